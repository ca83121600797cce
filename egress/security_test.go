package egress

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

// interceptedConn opens a CONNECT to target through tp and returns the TLS
// connection inside it (trusting the bottle CA).
func interceptedConn(t *testing.T, tp *testProxy, target string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", target, resp, err)
	}
	host, _, _ := net.SplitHostPort(target)
	tc := tls.Client(c, &tls.Config{RootCAs: tp.ca.pool(), ServerName: host})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc, bufio.NewReader(tc)
}

// Inside an intercepted tunnel the CONNECT target is the only host: a Host
// header or an absolute URL naming another host is refused, on the first
// request of a connection and on a keep-alive request after an allowed one,
// and the secret is never sent for it.
func TestInterceptedTunnelHostSwitch(t *testing.T) {
	tp := startProxy(t, testRoutes)
	tc, br := interceptedConn(t, tp, "api.example.test:443")
	for _, tc2 := range []struct{ req, status string }{
		{"GET /v1/models HTTP/1.1\r\nHost: api.example.test\r\n\r\n", "200"},
		{"GET /v1/models HTTP/1.1\r\nHost: evil.test\r\n\r\n", "421"},
	} {
		io.WriteString(tc, tc2.req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc2.req, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if fmt.Sprint(resp.StatusCode) != tc2.status {
			t.Errorf("%q: %d %s, want %s", tc2.req, resp.StatusCode, body, tc2.status)
		}
		if tc2.status != "200" && strings.Contains(string(body), testSecret) {
			t.Errorf("secret in refusal body")
		}
	}
	for _, req := range []string{
		"GET https://evil.test/v1/models HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
		"GET https://api.example.test@evil.test/v1/models HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
		"GET /v1/models HTTP/1.1\r\nHost: API.example.test.:443\r\n\r\n", // same host: allowed
	} {
		tc, br := interceptedConn(t, tp, "api.example.test:443")
		io.WriteString(tc, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		body, _ := io.ReadAll(resp.Body)
		want := 421
		if strings.Contains(req, "API.example") {
			want = 200
		}
		if resp.StatusCode != want {
			t.Errorf("%q: %d %s, want %d", req, resp.StatusCode, body, want)
		}
		if want == 200 && decodeSeen(t, string(body)).Host != "api.example.test" {
			t.Errorf("%q: upstream saw %s", req, body)
		}
	}
}

// Dot segments in all their spellings are refused where a paths rule
// checks the path, including ";" parameters that Java servers strip.
func TestAmbiguousPathSpellings(t *testing.T) {
	for _, p := range []string{"/v1/../admin", "/v1/%2e%2E/admin", "/v1/..;/admin", "/v1/.;x/admin", "/v1/..%3b/admin", "/v1/%2F../admin", "/v1\\..\\admin"} {
		if !ambiguousPath(p) {
			t.Errorf("ambiguousPath(%q) = false", p)
		}
	}
	for _, p := range []string{"/v1/messages", "/v1/a..b", "/v1/.well-known", "/v1/x;y"} {
		if ambiguousPath(p) {
			t.Errorf("ambiguousPath(%q) = true", p)
		}
	}
}

// A reload that reads the file while the host is rewriting it in place can
// see a prefix cut exactly at a line end: valid YAML, and more permissive
// when the cut drops a route's paths, methods or inject. Reload reads until
// two reads agree, so it loads what the writer finished, not the prefix.
func TestReloadWaitsForAStableFile(t *testing.T) {
	tp := startProxy(t, testRoutes)
	full := "routes:\n  - host: api.example.test\n    paths: [\"/v1/\"]\n    inject: {header: x-api-key, env: TEST_API_KEY}\n"
	prefix := "routes:\n  - host: api.example.test\n" // valid, and allows every path
	if _, err := routes.Parse([]byte(prefix)); err != nil {
		t.Fatalf("the prefix should parse (that is the hazard): %v", err)
	}
	var reads atomic.Int32
	tp.readFile = func(name string) ([]byte, error) {
		if reads.Add(1) == 1 {
			return []byte(prefix), nil // the writer is half-way
		}
		return os.ReadFile(name)
	}
	os.WriteFile(tp.routes, []byte(full), 0o644)
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := tp.Routes().Match("api.example.test"); r == nil || len(r.Paths) != 1 || r.Inject == nil {
		t.Fatalf("loaded the partial file: %+v", r)
	}
}

// A file that never settles is not loaded.
func TestReloadRejectsAFileThatKeepsChanging(t *testing.T) {
	tp := startProxy(t, testRoutes)
	var reads atomic.Int32
	tp.readFile = func(name string) ([]byte, error) {
		return []byte(fmt.Sprintf("routes:\n  - host: h%d.test\n", reads.Add(1))), nil
	}
	err := tp.Reload()
	if err == nil || !strings.Contains(tp.log.String(), "egress: reload failed: ") || !strings.Contains(tp.log.String(), "; keeping 4 route(s)") {
		t.Fatalf("err %v, log %s", err, tp.log.String())
	}
}

// Empty, and cut mid-line: rejected, logged, old routes kept.
func TestReloadEmptyAndMidLine(t *testing.T) {
	tp := startProxy(t, testRoutes)
	for _, text := range []string{"", "routes:\n  - host: api.exa"} {
		os.WriteFile(tp.routes, []byte(text), 0o644)
		if err := tp.Reload(); err == nil {
			t.Errorf("%q accepted", text)
		}
	}
	if n := strings.Count(tp.log.String(), "; keeping 4 route(s)\n"); n != 2 {
		t.Errorf("log: %s", tp.log.String())
	}
	if tp.Routes().Len() != 4 {
		t.Errorf("routes replaced")
	}
}

// An allowed upstream that sends a response head without end must not make
// the proxy buffer it without bound: 502 after maxResponseHead, and the
// upstream connection is closed.
func TestUpstreamResponseHeadIsBounded(t *testing.T) {
	written := make(chan int64, 1)
	addr := rawUpstream(t, func(c net.Conn) {
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
		var n int64
		line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
		m, _ := io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		n += int64(m)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for n < 256<<20 {
			m, err := c.Write(line)
			n += int64(m)
			if err != nil {
				break
			}
		}
		written <- n
	})
	w := newWorld(t)
	w.addrs["plain.example.test:80"] = addr
	tp := startProxyIn(t, testRoutes, w)
	resp, body := get(t, tp.client(t), "GET", "http://plain.example.test/")
	if resp == nil || resp.StatusCode != 502 {
		t.Errorf("got %v %.200s, want 502", resp, body)
	}
	if n := <-written; n >= 64<<20 {
		t.Errorf("the proxy read %d MiB of response head", n>>20)
	}
}

// A plain tunnel whose client has gone while the upstream keeps its side
// open (it never answers, never closes) must end: the proxy gives the
// other direction Config.HalfCloseTimeout once one direction is done.
func TestHalfOpenTunnelEnds(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // held open until the test ends
	w := newWorld(t)
	w.addrs["tunnel.example.test:443"] = addr
	tp := startProxyWith(t, testRoutes, w, "127.0.0.1:0", func(c *Config) { c.HalfCloseTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "CONNECT tunnel.example.test:443 HTTP/1.1\r\nHost: tunnel.example.test:443\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	io.WriteString(c, "hello")
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tp.mu.Lock()
		n := len(tp.conns)
		tp.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tunnel is still open %d connection(s) after the client left", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Spellings of hosts on the proxy port: the host routed on is the host
// dialled, whatever the case, trailing dot, userinfo or brackets.
func TestHostSpellings(t *testing.T) {
	tp := startProxy(t, testRoutes)
	for _, tc := range []struct{ name, req, status string }{
		{"upper case and trailing dot", "GET http://PLAIN.example.test./ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n", "200"},
		{"userinfo naming an allowed host", "GET http://plain.example.test@evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n", "403"},
		{"userinfo on an allowed host", "GET http://evil.test:x@plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n", "200"},
		{"percent-encoded host", "GET http://plain.example.test%2eevil.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n", "400"},
		{"IPv6 literal", "GET http://[::1]/ HTTP/1.1\r\nHost: [::1]\r\n\r\n", "403"},
		{"double trailing dot", "GET http://plain.example.test../ HTTP/1.1\r\nHost: plain.example.test..\r\n\r\n", "400"},
		{"wildcard empty label", "GET http://x..wild.test/ HTTP/1.1\r\nHost: x..wild.test\r\n\r\n", "400"},
		{"CONNECT upper case, trailing dot", "CONNECT TUNNEL.example.test.:443 HTTP/1.1\r\n\r\n", "200"},
		{"CONNECT userinfo", "CONNECT tunnel.example.test@evil.test:443 HTTP/1.1\r\n\r\n", "400"},
		{"CONNECT IPv6", "CONNECT [::1]:443 HTTP/1.1\r\n\r\n", "403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if line := rawRequest(t, tp, tc.req); !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
				t.Errorf("got %q, want %s", line, tc.status)
			}
		})
	}
}

// A wildcard never matches an IP literal, whose dotted "labels" are not
// names: "*.0.0.1" is not a route for 127.0.0.1.
func TestWildcardNeverMatchesIP(t *testing.T) {
	rs, err := routes.Parse([]byte("routes:\n  - host: \"*.0.0.1\"\n  - host: \"*.example.test\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"127.0.0.1", "10.0.0.1"} {
		if r := rs.Match(h); r != nil {
			t.Errorf("Match(%q) = %q", h, r.Host)
		}
	}
	if rs.Match("a.example.test") == nil {
		t.Errorf("wildcard stopped matching names")
	}
}

// Slowloris: a head that trickles in a byte at a time still has to be
// whole within Config.HeaderTimeout, on the proxy port and inside an
// intercepted tunnel.
func TestSlowHeadIsCut(t *testing.T) {
	tp := startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) { c.HeaderTimeout = 300 * time.Millisecond })
	plain, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	tls, _ := interceptedConn(t, tp, "api.example.test:443")
	for name, c := range map[string]net.Conn{"proxy port": plain, "intercepted": tls} {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		io.WriteString(c, "GET /v1/models HTTP/1.1\r\n")
		var err error
		for err == nil && time.Since(start) < 4*time.Second {
			_, err = io.WriteString(c, "X: y\r\n")
			if err == nil {
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				var b [1]byte
				if _, rerr := c.Read(b[:]); rerr != nil && !isTimeout(rerr) {
					err = rerr
				}
			}
		}
		if err == nil {
			t.Errorf("%s: a trickling head was still open after %v", name, time.Since(start))
		}
	}
}

// An upstream that sends more than the response asked for (a second
// response, smuggled) does not get it read as the answer to the next
// request on the same connection: the connection is dropped.
func TestUnsolicitedUpstreamBytesDropTheConnection(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if i == 0 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")
			} else {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc")
			}
		}
	})
	w := newWorld(t)
	w.addrs["plain.example.test:80"] = addr
	tp := startProxyIn(t, testRoutes, w)
	c := tp.client(t)
	for i := 0; i < 2; i++ {
		resp, body := get(t, c, "GET", "http://plain.example.test/")
		if resp == nil || body == "smuggled" {
			t.Fatalf("request %d: %v %q", i, resp, body)
		}
	}
}

// Connections beyond Config.MaxConns get a 503 and are closed, and the
// proxy serves again once connections end.
func TestConnectionLimit(t *testing.T) {
	tp := startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) { c.MaxConns = 2 })
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", tp.url.Host)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, func() bool { tp.mu.Lock(); defer tp.mu.Unlock(); return len(tp.conns) == 2 })
	if line := rawRequest(t, tp, "GET http://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n"); !strings.HasPrefix(line, "HTTP/1.1 503 ") {
		t.Errorf("over the limit: %q", line)
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, func() bool { tp.mu.Lock(); defer tp.mu.Unlock(); return len(tp.conns) == 0 })
	if line := rawRequest(t, tp, "GET http://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n"); !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		t.Errorf("after connections ended: %q", line)
	}
}

// rawUpstream is a hand-driven upstream server on loopback: serve gets each
// connection it accepts, in a goroutine of its own, and whatever serve
// leaves open is closed when the test ends. It returns the address.
func rawUpstream(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go serve(c)
		}
	}()
	return ln.Addr().String()
}
