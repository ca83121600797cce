package egress

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

// A peer outside Config.Clients is closed unread and logged; one inside is
// served, also when it arrives on a dual-stack socket as ::ffff:a.b.c.d.
func TestClientsOutsideAreClosed(t *testing.T) {
	outside := startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) {
		c.Clients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	c, err := net.Dial("tcp", outside.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET http://plain.example.test/?token=agent-query-secret HTTP/1.1\r\nHost: plain.example.test\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("a peer outside --clients got an answer or an open connection (read %d, %v)", n, err)
	}
	waitFor(t, func() bool { return strings.Contains(outside.accessLog.String(), "client not allowed") })
	log := outside.accessLog.String()
	for _, want := range []string{`"client":"127.0.0.1:`, `"decision":"reject"`, `client not allowed: 127.0.0.1 is outside 10.0.0.0/8`} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "agent-query-secret") || strings.Contains(log, "plain.example.test") {
		t.Errorf("the log holds what the refused peer sent:\n%s", log)
	}

	// A mapped prefix is the IPv4 network; a dual-stack listener sees the
	// IPv4 client as ::ffff:127.0.0.1, which is inside it.
	inside := startProxyWith(t, testRoutes, newWorld(t), "[::]:0", func(c *Config) {
		c.Clients = []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}
	})
	_, port, _ := net.SplitHostPort(inside.url.Host)
	inside.url.Host = net.JoinHostPort("127.0.0.1", port)
	if resp, body := get(t, inside.client(t), "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("a client inside --clients: %v %s", resp, body)
	}
	if strings.Contains(inside.accessLog.String(), "client not allowed") {
		t.Errorf("log:\n%s", inside.accessLog)
	}
}

func TestClientAddrs(t *testing.T) {
	own := []net.Addr{
		&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
		&net.IPNet{IP: net.ParseIP("10.213.4.3").To16(), Mask: net.CIDRMask(24, 32)},
		&net.IPNet{IP: net.ParseIP("172.18.0.5"), Mask: net.CIDRMask(16, 32)},
		&net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)},
	}
	clients := routes.NormalizePrefixes([]netip.Prefix{netip.MustParsePrefix("::ffff:10.213.4.0/120")})
	got, err := clientAddrs("3128", clients, own)
	if err != nil || strings.Join(got, " ") != "10.213.4.3:3128" {
		t.Errorf("clientAddrs = %q, %v; want only the internal network's address", got, err)
	}
	_, err = clientAddrs("3128", []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, own)
	if err == nil || !strings.Contains(err.Error(), "198.51.100.0/24") || !strings.Contains(err.Error(), "172.18.0.5") {
		t.Errorf("no matching address: %v", err)
	}
	if _, err := ParseClients("10.0.0.0/8,nonsense"); err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Errorf("ParseClients: %v", err)
	}
}

// bottle egress --clients with a --listen of no host listens only on the
// machine's addresses inside the networks, and refuses to start when none is.
func TestProcessClientsListen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "routes.yaml")
	os.WriteFile(file, []byte("routes:\n  - host: plain.example.test\n"), 0o644)
	run := func(args ...string) (*exec.Cmd, *syncBuffer) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		cmd := bottleEgress(t, ctx, append([]string{"--routes", file}, args...)...)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		return cmd, out
	}

	cmd, out := run("--listen", ":0", "--clients", "198.51.100.0/24")
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), "--clients 198.51.100.0/24: no address of this machine is inside them (it has 127.0.0.1") {
		t.Errorf("no address inside --clients: %v\n%s", err, out)
	}
	cmd, out = run("--listen", ":0", "--clients", "300.0.0.0/8")
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), `--clients "300.0.0.0/8": "300.0.0.0/8" is not a network`) {
		t.Errorf("bad --clients: %v\n%s", err, out)
	}

	cmd, out = run("--listen", ":0", "--clients", "127.0.0.0/8")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &proc{stderr: out}
	m := p.waitLog(t, regexp.MustCompile(`egress: listening on (\S+)`), 1)
	p.waitLog(t, loaded, 1)
	if got := regexp.MustCompile(`listening on`).FindAllString(out.String(), -1); len(got) != 1 || !strings.HasPrefix(m[1], "127.0.0.1:") {
		t.Fatalf("want one listener, on 127.0.0.1:\n%s", out)
	}
	c, err := net.Dial("tcp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 403 {
		t.Errorf("a client inside --clients: %v %v", resp, err)
	}
	// Every other address of the machine: nothing listens on that port.
	_, port, _ := net.SplitHostPort(m[1])
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.(*net.IPNet).IP)
		if ip = ip.Unmap(); ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second); err == nil {
			c.Close()
			t.Errorf("the egress listens on %s too, outside --clients", ip)
		}
	}
}
