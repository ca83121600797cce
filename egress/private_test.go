package egress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

func TestSpecialAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":        "loopback 127.0.0.0/8",
		"127.255.0.9":      "loopback 127.0.0.0/8",
		"10.0.0.5":         "private-use 10.0.0.0/8",
		"172.16.0.1":       "private-use 172.16.0.0/12",
		"172.31.255.255":   "private-use 172.16.0.0/12",
		"192.168.1.1":      "private-use 192.168.0.0/16",
		"169.254.169.254":  "link-local 169.254.0.0/16",
		"100.64.0.1":       "shared address space 100.64.0.0/10",
		"0.0.0.0":          "this-network 0.0.0.0/8",
		"192.0.0.8":        "IETF protocol assignments 192.0.0.0/24",
		"198.18.0.1":       "benchmarking 198.18.0.0/15",
		"224.0.0.1":        "multicast 224.0.0.0/4",
		"240.0.0.1":        "reserved 240.0.0.0/4",
		"255.255.255.255":  "reserved 240.0.0.0/4",
		"::1":              "loopback ::1/128",
		"::":               "unspecified ::/128",
		"fc00::1":          "unique-local fc00::/7",
		"fd12:3456::1":     "unique-local fc00::/7",
		"fe80::1":          "link-local fe80::/10",
		"fe80::1%eth0":     "link-local fe80::/10",
		"ff02::1":          "multicast ff00::/8",
		"::ffff:127.0.0.1": "loopback 127.0.0.0/8",
		"::ffff:10.1.2.3":  "private-use 10.0.0.0/8",
		"64:ff9b::a00:5":   "NAT64 64:ff9b::/96 of private-use 10.0.0.0/8",
		"64:ff9b::7f00:1":  "NAT64 64:ff9b::/96 of loopback 127.0.0.0/8",
		"2002:a9fe:a9fe::": "6to4 2002::/16 of link-local 169.254.0.0/16",
		"::7f00:1":         "IPv4-compatible ::/96",
		"2001:db8::1":      "documentation 2001:db8::/32",
	} {
		got, special := specialAddr(netip.MustParseAddr(addr))
		if !special || got != want {
			t.Errorf("specialAddr(%s) = %q, %v; want %q", addr, got, special, want)
		}
	}
	for _, addr := range []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8", "2002:808:808::1"} {
		if got, special := specialAddr(netip.MustParseAddr(addr)); special {
			t.Errorf("specialAddr(%s) = %q: a public address", addr, got)
		}
	}
}

func TestCheckAddrAllow(t *testing.T) {
	nets := func(s ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, x := range s {
			ps = append(ps, netip.MustParsePrefix(x))
		}
		return routes.NormalizePrefixes(ps)
	}
	for _, tc := range []struct {
		addr  string
		allow []netip.Prefix
		ok    bool
	}{
		{"10.0.0.5", nil, false},
		{"10.0.0.5", []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, true},
		{"::1", []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, true},
		{"10.0.0.5", nets("10.0.0.0/24"), true},
		{"10.0.1.5", nets("10.0.0.0/24"), false},
		{"::ffff:10.0.0.5", nets("10.0.0.0/24"), true},
		{"10.0.0.5", nets("::ffff:10.0.0.0/120"), true},
		{"64:ff9b::a00:5", nets("10.0.0.0/24"), true},
		{"64:ff9b::a00:5", nets("192.168.0.0/16"), false},
		{"169.254.169.254", nets("10.0.0.0/8", "fd00::/8"), false},
		{"8.8.8.8", nil, true},
	} {
		err := checkAddr(netip.MustParseAddr(tc.addr), tc.allow)
		var pe *privateAddrError
		if tc.ok != (err == nil) || err != nil && !errors.As(err, &pe) {
			t.Errorf("checkAddr(%s, %v) = %v; want ok %v", tc.addr, tc.allow, err, tc.ok)
		}
	}
}

func TestParsePrivate(t *testing.T) {
	rs, err := routes.Parse([]byte("routes:\n  - host: a.test\n    private: true\n  - host: b.test\n    private: false\n  - host: c.test\n    private: [10.213.0.0/16, \"fd00::/8\", 192.168.1.5, \"::ffff:172.16.0.0/108\"]\n  - host: d.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := func(h string) string { return fmt.Sprint(rs.Match(h).Private) }
	if got("a.test") != "[0.0.0.0/0 ::/0]" || got("b.test") != "[]" || got("d.test") != "[]" ||
		got("c.test") != "[10.213.0.0/16 fd00::/8 192.168.1.5/32 172.16.0.0/12]" {
		t.Errorf("private: a %s, b %s, c %s, d %s", got("a.test"), got("b.test"), got("c.test"), got("d.test"))
	}
	for text, want := range map[string]string{
		"private: yes\n":              `line 3: private: expected true, false or a list of networks`,
		"private: []\n":               `line 3: private: is an empty list`,
		"private: [10.0.0.0/33]\n":    `line 3: private: "10.0.0.0/33" is not a network`,
		"private: [10.0.0.1/8]\n":     `line 3: private: "10.0.0.1/8" has bits set past the prefix length; did you mean 10.0.0.0/8?`,
		"private: [localhost]\n":      `line 3: private: "localhost" is not a network`,
		"private: {a: b}\n":           `line 3: private: expected true, false or a list`,
		"private: [\"fe80::1%lo\"]\n": `"fe80::1%lo" is not a network`,
	} {
		_, err := routes.Parse([]byte("routes:\n  - host: a.test\n    " + text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %s", text, err, want)
		}
	}
}

// privateWorld is a proxy whose Dialer refuses to connect anywhere but
// loopback, so that an address the check lets through shows up as a 502
// naming it ("test: would connect to ..."), not as a hang.
func privateProxy(t *testing.T, routes string, addrs map[string]string) *testProxy {
	w := newWorld(t)
	for from, to := range addrs {
		w.addrs[from] = to
	}
	return startProxyWith(t, routes, w, "127.0.0.1:0", func(c *Config) {
		c.Dialer = &net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
			if ap, err := netip.ParseAddrPort(address); err == nil && ap.Addr().Unmap().IsLoopback() {
				return nil
			}
			return fmt.Errorf("test: would connect to %s", address)
		}}
	})
}

// Every special-purpose address is refused without the route's opt-in and
// dialled with it: on plain http, CONNECT tunnels and intercepted requests,
// for a name that resolves to it.
func TestPrivateAddressesRefused(t *testing.T) {
	routes := `routes:
  - host: closed.example.test
  - host: open.example.test
    private: true
  - host: listed.example.test
    private: [10.0.0.0/8, "::1"]
  - host: rules.example.test
    paths: ["/"]
  - host: rulesopen.example.test
    paths: ["/"]
    private: true
`
	for _, addr := range []string{"127.0.0.1", "10.0.0.5", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
		"192.0.0.8", "198.18.0.1", "224.0.0.1", "240.0.0.1", "::1", "::", "fc00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "64:ff9b::a00:5"} {
		t.Run(addr, func(t *testing.T) {
			target := netip.MustParseAddr(addr)
			what, _ := specialAddr(target)
			m := map[string]string{}
			for _, h := range []string{"closed", "open", "listed", "rules", "rulesopen"} {
				m[h+".example.test:80"] = net.JoinHostPort(addr, "9")
				m[h+".example.test:443"] = net.JoinHostPort(addr, "9")
			}
			tp := privateProxy(t, routes, m)
			refused := func(how, host, status, body string) {
				t.Helper()
				want := fmt.Sprintf("%s is at private address %s (%s); the route on line", host, target.Unmap(), what)
				if !strings.HasPrefix(status, "HTTP/1.1 403 ") || !strings.Contains(body, want) {
					t.Errorf("%s to %s: %q %q; want 403 saying %s", how, host, status, body, want)
				}
			}
			dialled := func(how, host, status, body string) {
				t.Helper()
				if !target.Unmap().IsLoopback() && (!strings.HasPrefix(status, "HTTP/1.1 502 ") || !strings.Contains(body, "test: would connect to")) ||
					target.Unmap().IsLoopback() && strings.HasPrefix(status, "HTTP/1.1 403 ") {
					t.Errorf("%s to %s with the opt-in: %q %q; want it dialled", how, host, status, body)
				}
			}
			status, body := rawExchange(t, tp, "GET http://closed.example.test/ HTTP/1.1\r\nHost: closed.example.test\r\n\r\n")
			refused("http", "closed.example.test", status, body)
			status, body = rawExchange(t, tp, "CONNECT closed.example.test:443 HTTP/1.1\r\n\r\n")
			refused("CONNECT", "closed.example.test", status, body)
			status, body = interceptedExchange(t, tp, "rules.example.test")
			refused("intercepted", "rules.example.test", status, body)

			status, body = rawExchange(t, tp, "GET http://open.example.test/ HTTP/1.1\r\nHost: open.example.test\r\n\r\n")
			dialled("http", "open.example.test", status, body)
			status, body = rawExchange(t, tp, "CONNECT open.example.test:443 HTTP/1.1\r\n\r\n")
			dialled("CONNECT", "open.example.test", status, body)
			status, body = interceptedExchange(t, tp, "rulesopen.example.test")
			dialled("intercepted", "rulesopen.example.test", status, body)

			status, body = rawExchange(t, tp, "GET http://listed.example.test/ HTTP/1.1\r\nHost: listed.example.test\r\n\r\n")
			if addr == "10.0.0.5" || addr == "::1" || addr == "64:ff9b::a00:5" {
				dialled("http", "listed.example.test", status, body)
			} else {
				refused("http", "listed.example.test", status, body)
			}
			if log := tp.accessLog.String(); !strings.Contains(log, fmt.Sprintf(`"host":"closed.example.test","path":"/","decision":"deny","route":"closed.example.test","status":403`)) ||
				!strings.Contains(log, fmt.Sprintf(`"error":"private address %s (%s)"`, target.Unmap(), what)) {
				t.Errorf("access log:\n%s", log)
			}
		})
	}
}

// A name the system resolver resolves to loopback (localhost: 127.0.0.1,
// and ::1 where it has it) is refused on every address it has.
func TestPrivateAddressByName(t *testing.T) {
	tp := privateProxy(t, "routes:\n  - host: localhost\n", nil)
	status, body := rawExchange(t, tp, "GET http://localhost:9/ HTTP/1.1\r\nHost: localhost:9\r\n\r\n")
	if !strings.HasPrefix(status, "HTTP/1.1 403 ") || !strings.Contains(body, "localhost is at private address ") || !strings.Contains(body, "(loopback ") {
		t.Errorf("localhost without the opt-in: %q %q", status, body)
	}
}

// The next proxy (--upstream) is the operator's: dialled on loopback
// although the routes do not opt in; the hosts behind it are its to check.
func TestNextProxyIsExempt(t *testing.T) {
	next := startProxy(t, testRoutes)
	closed := strings.ReplaceAll(testRoutes, "    private: true\n", "")
	first := startProxyWith(t, closed, next.world, "127.0.0.1:0", func(c *Config) { c.Upstream = next.url })
	if resp, body := get(t, first.client(t), "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 200 {
		t.Errorf("through the next proxy on loopback: %v %s", resp, body)
	}
	first.url = startProxyWith(t, closed, next.world, "127.0.0.1:0", nil).url
	if resp, body := get(t, first.client(t), "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 403 || !strings.Contains(body, "loopback") {
		t.Errorf("the same routes without a next proxy: %v %s", resp, body)
	}
}

// rawExchange sends text to the proxy on a fresh connection and returns
// the answer's status line and body.
func rawExchange(t *testing.T, tp *testProxy, text string) (status, body string) {
	t.Helper()
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, text)
	return readAnswer(t, bufio.NewReader(c))
}

func readAnswer(t *testing.T, br *bufio.Reader) (status, body string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return "HTTP/1.1 " + resp.Status, string(b)
}

// interceptedExchange sends GET / inside an intercepted CONNECT to
// host:443 and returns the answer's status line and body.
func interceptedExchange(t *testing.T, tp *testProxy, host string) (status, body string) {
	t.Helper()
	tc, br := interceptedConn(t, tp, host+":443")
	fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	return readAnswer(t, br)
}

// bottle egress --resolve maps a name to an address, and the address
// dialled is checked: loopback without the opt-in is refused.
func TestProcessResolveIsChecked(t *testing.T) {
	p := startProcess(t, "routes:\n  - host: plain.example.test\n  - host: evil.test\n    private: [127.0.0.0/8]\n")
	c := p.tp.client(t)
	if resp, body := get(t, c, "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 403 || !strings.Contains(body, "private address 127.0.0.1 (loopback 127.0.0.0/8)") {
		t.Errorf("--resolve to loopback without the opt-in: %v %s", resp, body)
	}
	if resp, body := get(t, c, "GET", "http://evil.test/"); resp == nil || resp.StatusCode != 200 {
		t.Errorf("--resolve to loopback with private: [127.0.0.0/8]: %v %s", resp, body)
	}
}
