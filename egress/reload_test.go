package egress

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestReloadKeepsOldRoutesOnBadFile(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c := tp.client(t)
	// In place, as the host writes it: a cut-off file.
	if err := os.WriteFile(tp.routes, []byte(testRoutes[:60]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tp.Reload(); err == nil {
		t.Fatal("truncated file accepted")
	}
	if !strings.Contains(tp.log.String(), "egress: reload failed: ") || !strings.Contains(tp.log.String(), "; keeping 4 route(s)") {
		t.Errorf("log: %s", tp.log.String())
	}
	if resp, _ := get(t, c, "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("old routes stopped serving: %v", resp)
	}
	os.WriteFile(tp.routes, []byte("routes:\n  - host: evil.test\n    private: true\n"), 0o644)
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tp.log.String(), "egress: loaded 1 route(s)\n") {
		t.Errorf("log: %s", tp.log.String())
	}
	if resp, _ := get(t, c, "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 403 {
		t.Fatalf("removed route still allowed: %v", resp)
	}
	if resp, _ := get(t, c, "GET", "http://evil.test/"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("added route not allowed: %v", resp)
	}
}

// A reload closes the plain tunnels the new routes no longer allow as
// they are (host removed, or given rules that need interception); tunnels
// to hosts still allowed stay open.
func TestReloadCutsTunnelsNoLongerAllowed(t *testing.T) {
	tp := startProxy(t, testRoutes+"  - host: keep.example.test\n    private: true\n")
	tp.world.addrs["keep.example.test:443"] = tp.world.httpsAddr
	tunnel := func(target string) net.Conn {
		c, err := net.Dial("tcp", tp.url.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT %s: %v %v", target, resp, err)
		}
		return c
	}
	gone, kept := tunnel("tunnel.example.test:443"), tunnel("keep.example.test:443")
	os.WriteFile(tp.routes, []byte("routes:\n  - host: keep.example.test\n    private: true\n"), 0o644)
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tp.log.String(), "egress: closed 1 tunnel(s) the new routes no longer allow untouched: tunnel.example.test:443\n") {
		t.Errorf("log:\n%s", tp.log.String())
	}
	gone.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := gone.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the tunnel to a removed host is still open after the reload (read %d, %v)", n, err)
	}
	// The kept tunnel still carries a TLS handshake with the upstream.
	tc := tls.Client(kept, &tls.Config{ServerName: "keep.example.test", RootCAs: tp.world.upstreamCA.pool()})
	kept.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Errorf("the tunnel to a host still allowed: %v", err)
	}
	waitFor(t, func() bool {
		return strings.Contains(tp.accessLog.String(), `"host":"tunnel.example.test"`) &&
			strings.Contains(tp.accessLog.String(), "closed by a routes reload that no longer allows this tunnel")
	})
}

// A reload that drops the host between the CONNECT's route check and the
// tunnel's start: cutTunnels cannot see the tunnel yet, so connect checks
// again, and nothing goes through.
func TestReloadDuringConnectSetup(t *testing.T) {
	var tp *testProxy
	tp = startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) {
		c.BeforeTunnel = func() {
			os.WriteFile(tp.routes, []byte("routes:\n  - host: plain.example.test\n"), 0o644)
			if err := tp.Reload(); err != nil {
				t.Error(err)
			}
		}
	})
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT tunnel.example.test:443 HTTP/1.1\r\nHost: tunnel.example.test:443\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err) // the 200 went out before the reload
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, &tls.Config{ServerName: "tunnel.example.test", RootCAs: tp.world.upstreamCA.pool()})
	if err := tc.Handshake(); err == nil {
		t.Fatal("a TLS handshake went through a tunnel whose host the routes dropped before it started")
	} else if isTimeout(err) {
		t.Fatalf("the tunnel was neither used nor closed: %v", err)
	}
	waitFor(t, func() bool {
		return strings.Contains(tp.accessLog.String(), `"host":"tunnel.example.test","path":"","decision":"deny"`) &&
			strings.Contains(tp.accessLog.String(), "closed by a routes reload that no longer allows this tunnel")
	})
}
