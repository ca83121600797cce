package egress

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestHTTPAllowedAndDenied(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c := tp.client(t)
	resp, body := get(t, c, "GET", "http://plain.example.test/hello?x=1")
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("allowed host: %v %s", resp, body)
	}
	if s := decodeSeen(t, body); s.Server != "http" || s.Path != "/hello?x=1" || s.Host != "plain.example.test" {
		t.Errorf("upstream saw %+v", s)
	}
	resp, body = get(t, c, "GET", "http://evil.test/")
	if resp == nil || resp.StatusCode != 403 || !strings.Contains(body, "evil.test") || !strings.Contains(body, tp.routes) {
		t.Fatalf("denied host: %v %q", resp, body)
	}
	waitFor(t, func() bool { return strings.Count(tp.accessLog.String(), "\n") == 2 })
	log := tp.accessLog.String()
	for _, want := range []string{`"host":"plain.example.test","path":"/hello","decision":"allow","route":"plain.example.test","status":200`, `"host":"evil.test","path":"/","decision":"deny","route":"","status":403`} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %s:\n%s", want, log)
		}
	}
}

func TestConnectTunnelAndDenied(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c := tp.client(t)
	resp, body := get(t, c, "GET", "https://tunnel.example.test/t")
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("tunnel: %v %s", resp, body)
	}
	// A plain tunnel: the client sees the upstream's own certificate.
	if issuer := resp.TLS.PeerCertificates[0].Issuer.CommonName; issuer != "upstream test CA" {
		t.Errorf("tunnel certificate issued by %q; the proxy intercepted a route without rules", issuer)
	}
	if s := decodeSeen(t, body); s.Server != "https" || s.Host != "tunnel.example.test" {
		t.Errorf("upstream saw %+v", s)
	}
	if resp, msg := get(t, c, "GET", "https://evil.test/"); resp != nil || !strings.Contains(msg, "Forbidden") {
		t.Fatalf("CONNECT to a host without a route: %v %s", resp, msg)
	}
	c.CloseIdleConnections()
	waitFor(t, func() bool { return strings.Contains(tp.accessLog.String(), `"decision":"tunnel"`) })
	if log := tp.accessLog.String(); !strings.Contains(log, `"method":"CONNECT","host":"evil.test","path":"","decision":"deny"`) {
		t.Errorf("access log:\n%s", log)
	}
}

func TestWildcard(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c := tp.client(t)
	for host, want := range map[string]int{"a.wild.test": 200, "b.a.wild.test": 200, "wild.test": 403, "wild.test.evil": 403} {
		resp, body := get(t, c, "GET", "http://"+host+"/")
		if resp == nil || resp.StatusCode != want {
			t.Errorf("%s: got %v %q, want %d", host, resp, body, want)
		}
		resp, body = get(t, c, "GET", "https://"+host+"/")
		if (resp != nil && resp.StatusCode == 200) != (want == 200) {
			t.Errorf("https %s: got %v %q, want %d", host, resp, body, want)
		}
	}
}

func TestInterceptionRulesAndInjection(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c := tp.client(t)
	resp, body := get(t, c, "POST", "https://api.example.test/v1/messages", "X-Api-Key", "agent-fake-key")
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("allowed path: %v %s", resp, body)
	}
	if issuer := resp.TLS.PeerCertificates[0].Issuer.CommonName; issuer != "bottle test CA" {
		t.Errorf("intercepted certificate issued by %q, want the bottle CA", issuer)
	}
	s := decodeSeen(t, body)
	if len(s.APIKey) != 1 || s.APIKey[0] != testSecret {
		t.Errorf("upstream saw X-Api-Key %q, want only the real secret", s.APIKey)
	}
	if s.Host != "api.example.test" || s.Path != "/v1/messages" || s.Method != "POST" {
		t.Errorf("upstream saw %+v", s)
	}
	// Without a header from the client the secret is still set.
	if _, body := get(t, c, "GET", "https://api.example.test/v1/models"); len(decodeSeen(t, body).APIKey) != 1 {
		t.Errorf("no injection without a client header: %s", body)
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v2/models", 403},
		{"DELETE", "/v1/messages", 403},
		{"GET", "/v1/../admin", 400},
		{"GET", "/v1/%2e%2e/admin", 400},
		{"GET", "/v1/..;/admin", 400},
	} {
		req, _ := http.NewRequest(tc.method, "https://api.example.test/", nil)
		req.URL.Opaque = "//api.example.test" + tc.path // keep the path as written
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d %q, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
		}
	}
	// Injection over plain http would put the secret on the wire in clear.
	if resp, body := get(t, c, "GET", "http://api.example.test/v1/models"); resp == nil || resp.StatusCode != 403 || !strings.Contains(body, "https") {
		t.Errorf("plain http to an inject route: %v %q", resp, body)
	}
	logs := tp.accessLog.String() + tp.log.String()
	if strings.Contains(logs, testSecret) || strings.Contains(logs, "agent-fake-key") {
		t.Errorf("a secret reached the logs:\n%s", logs)
	}
	if !strings.Contains(logs, `"method":"DELETE","host":"api.example.test","path":"/v1/messages","decision":"deny","route":"api.example.test","status":403`) {
		t.Errorf("access log:\n%s", logs)
	}
}

func TestBadInput(t *testing.T) {
	tp := startProxy(t, testRoutes)
	ipHost := tp.world.httpAddr
	for _, tc := range []struct{ name, req, status string }{
		{"garbage", "HELLO\r\n\r\n", "400"},
		{"bad request line", "GET http://plain.example.test/ HTTP/9\r\n\r\n", "400"},
		{"origin-form on the proxy port", "GET / HTTP/1.1\r\nHost: plain.example.test\r\n\r\n", "400"},
		{"CONNECT non-numeric port", "CONNECT tunnel.example.test:https HTTP/1.1\r\nHost: tunnel.example.test:https\r\n\r\n", "400"},
		{"CONNECT port out of range", "CONNECT tunnel.example.test:70000 HTTP/1.1\r\n\r\n", "400"},
		{"CONNECT without port", "CONNECT tunnel.example.test HTTP/1.1\r\n\r\n", "400"},
		{"CL and TE", "POST http://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"Host header disagrees", "GET http://plain.example.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n", "400"},
		{"Host header disagrees, allowed inside", "GET http://evil.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n", "400"},
		{"IP literal", "GET http://" + ipHost + "/ HTTP/1.1\r\nHost: " + ipHost + "\r\n\r\n", "403"},
		{"CONNECT IP literal", "CONNECT " + ipHost + " HTTP/1.1\r\n\r\n", "403"},
		{"https absolute-form", "GET https://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n", "400"},
		{"huge head", "GET http://plain.example.test/ HTTP/1.1\r\nX: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", "431"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if line := rawRequest(t, tp, tc.req); !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
				t.Errorf("got %q, want %s", line, tc.status)
			}
		})
	}
	// Still serving, and every refusal was logged.
	if resp, body := get(t, tp.client(t), "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("after bad input: %v %s", resp, body)
	}
	waitFor(t, func() bool { return strings.Contains(tp.accessLog.String(), `"decision":"allow"`) })
	if n := strings.Count(tp.accessLog.String(), `"decision":"reject"`); n != 11 {
		t.Errorf("%d rejections logged, want 11:\n%s", n, tp.accessLog.String())
	}
}

func TestKeepAliveAndDenyOnSameConnection(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, u := range []string{"http://plain.example.test/1", "http://evil.test/", "http://plain.example.test/2"} {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u, strings.Split(u, "/")[2])
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func TestInterceptNeedsCA(t *testing.T) {
	file := filepath.Join(t.TempDir(), "routes.yaml")
	os.WriteFile(file, []byte(testRoutes), 0o644)
	_, err := New(Config{RoutesFile: file})
	if err == nil || !strings.Contains(err.Error(), "line 8: host: api.example.test") || !strings.Contains(err.Error(), "--ca") {
		t.Fatalf("got %v", err)
	}
}

func TestUpstreamProxy(t *testing.T) {
	// The next proxy is another egress proxy that allows everything the
	// first one does; it counts what passes through it.
	next := startProxy(t, testRoutes)
	first := startProxyIn(t, testRoutes, next.world)
	roots := first.world.upstreamCA.pool()
	roots.AddCert(next.ca.cert) // the next proxy intercepts api.example.test too
	p2, err := New(Config{
		RoutesFile: first.routes, CA: first.ca, RootCAs: roots,
		Upstream: next.url, Getenv: func(string) string { return testSecret },
		// The routes opt in to loopback, but the next proxy is the only
		// address this proxy may dial: it is exempt from the check, and
		// everything else goes through it.
		Dialer: &net.Dialer{Control: func(network, addr string, _ syscall.RawConn) error {
			if addr != next.url.Host {
				return fmt.Errorf("dialled %s directly instead of through the upstream proxy", addr)
			}
			return nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	first.url = serveProxy(t, p2)
	c := first.client(t)
	for _, u := range []string{"http://plain.example.test/", "https://tunnel.example.test/", "https://api.example.test/v1/x"} {
		if resp, body := get(t, c, "GET", u); resp == nil || resp.StatusCode != 200 {
			t.Errorf("%s through upstream: %v %s", u, resp, body)
		}
	}
	c.CloseIdleConnections()
	waitFor(t, func() bool { return strings.Contains(next.accessLog.String(), `"decision":"tunnel"`) })
	log := next.accessLog.String()
	for _, want := range []string{`"host":"plain.example.test","path":"/","decision":"allow"`, `"method":"CONNECT","host":"tunnel.example.test"`, `"method":"CONNECT","host":"api.example.test"`} {
		if !strings.Contains(log, want) {
			t.Errorf("upstream proxy log lacks %s:\n%s", want, log)
		}
	}
}

// The upstream closes a kept-alive connection while it is idle: the next
// request, even one with a body, goes out on a fresh connection.
func TestStaleUpstreamConnection(t *testing.T) {
	var conns sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conns.Store(r.RemoteAddr, true)
		fmt.Fprint(w, "ok")
	}))
	srv.Config.IdleTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	tp := startProxy(t, testRoutes)
	tp.world.addrs["plain.example.test:80"] = srv.Listener.Addr().String()
	c := tp.client(t)
	for i := range 3 {
		resp, err := c.Post("http://plain.example.test/", "text/plain", strings.NewReader("body"))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
		io.ReadAll(resp.Body) // so that the client keeps its connection to the proxy
		resp.Body.Close()
		time.Sleep(700 * time.Millisecond)
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n != 3 {
		t.Errorf("%d upstream connections, want 3 (one per request after each idle close)", n)
	}
	clients := map[string]bool{}
	for _, m := range regexp.MustCompile(`"client":"([^"]+)"`).FindAllStringSubmatch(tp.accessLog.String(), -1) {
		clients[m[1]] = true
	}
	if len(clients) != 1 {
		t.Errorf("the client's keep-alive connection to the proxy was not kept: %d connections", len(clients))
	}
}

// BenchmarkInterceptInject is one keep-alive client through an intercepted,
// injecting route to a loopback HTTPS upstream (client and upstream run in
// this process too: use it to compare, and profile with -cpuprofile).
func BenchmarkInterceptInject(b *testing.B) {
	tp := startProxy(b, testRoutes)
	c := tp.client(b)
	for b.Loop() {
		resp, err := c.Get("https://api.example.test/v1/models")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkPlainHTTP is one keep-alive client forwarding plain http.
func BenchmarkPlainHTTP(b *testing.B) {
	tp := startProxy(b, testRoutes)
	c := tp.client(b)
	for b.Loop() {
		resp, err := c.Get("http://plain.example.test/x")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// Credentials in --upstream reach the next proxy on plain http requests too
// (absolute-form, Proxy-Authorization), not only on CONNECT; the client's
// own Proxy-Authorization never does.
func TestUpstreamProxyCredentialsOnPlainHTTP(t *testing.T) {
	seen := make(chan string, 1)
	addr := rawUpstream(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			seen <- "bad request: " + err.Error()
			return
		}
		seen <- req.Header.Get("Proxy-Authorization")
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	first := startProxy(t, testRoutes)
	p2, err := New(Config{
		RoutesFile: first.routes, CA: first.ca,
		Upstream: &url.URL{Scheme: "http", User: url.UserPassword("bottle", "s3cret"), Host: addr},
		Getenv:   func(string) string { return testSecret },
	})
	if err != nil {
		t.Fatal(err)
	}
	first.url = serveProxy(t, p2)
	resp, body := get(t, first.client(t), "GET", "http://plain.example.test/", "Proxy-Authorization", "Basic agent-fake")
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("through an upstream with credentials: %v %s", resp, body)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("bottle:s3cret"))
	if got := <-seen; got != want {
		t.Errorf("next proxy saw Proxy-Authorization %q, want %q", got, want)
	}
}
