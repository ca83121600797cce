package egress

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
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

// newTestCA makes a CA named cn, written as ca.crt/ca.key into a temp dir
// (the layout ca_create makes), and returns it with its directory.
func newTestCA(t testing.TB, cn string) (*CA, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600)
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

func (ca *CA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// seen is what a test upstream received.
type seen struct {
	Server string
	Method string
	Path   string
	Host   string
	APIKey []string
	Header http.Header // every header, as an upstream that echoes (TRACE) would show them
}

// world is a set of test upstreams on loopback, reachable by name through
// the proxy's injected dialer, with HTTPS certificates from their own CA.
type world struct {
	upstreamCA *CA
	addrs      map[string]string // "host:port" -> loopback address
	httpAddr   string
	httpsAddr  string
}

func newWorld(t testing.TB) *world {
	upCA, _ := newTestCA(t, "upstream test CA")
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(seen{Server: name, Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, APIKey: r.Header.Values("X-Api-Key"), Header: r.Header})
		})
	}
	plain := httptest.NewServer(handler("http"))
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(handler("https"))
	secure.TLS = &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return upCA.Leaf(h.ServerName) }}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	w := &world{upstreamCA: upCA, addrs: map[string]string{}, httpAddr: plain.Listener.Addr().String(), httpsAddr: secure.Listener.Addr().String()}
	for _, h := range []string{"plain.example.test", "api.example.test", "tunnel.example.test", "a.wild.test", "b.a.wild.test", "wild.test", "wild.test.evil", "evil.test"} {
		w.addrs[h+":80"] = w.httpAddr
		w.addrs[h+":443"] = w.httpsAddr
	}
	return w
}

// resolve is Config.Resolve: the test upstreams' names to their addresses.
func (w *world) resolve(hostport string) string {
	if to, ok := w.addrs[hostport]; ok {
		return to
	}
	return hostport
}

// testRoutes' upstreams are on loopback: every route opts in to it.
const testRoutes = `routes:
  - host: plain.example.test
    private: true
  - host: tunnel.example.test
    private: true
  - host: "*.wild.test"
    private: true
  - host: api.example.test
    private: true
    paths: ["/v1/"]
    methods: [GET, POST]
    inject:
      header: x-api-key
      env: TEST_API_KEY
`

const testSecret = "real-secret-0123456789"

// testProxy is a Proxy serving on loopback, with its logs captured.
type testProxy struct {
	*Proxy
	url       *url.URL
	routes    string
	ca        *CA
	world     *world
	accessLog *syncBuffer
	log       *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProxy(t testing.TB, routes string) *testProxy {
	t.Helper()
	return startProxyIn(t, routes, newWorld(t))
}

func startProxyIn(t testing.TB, routes string, w *world) *testProxy {
	t.Helper()
	return startProxyWith(t, routes, w, "127.0.0.1:0", nil)
}

// startProxyWith is startProxyIn listening on addr, with its Config
// changed by tweak (when not nil) before New.
func startProxyWith(t testing.TB, routes string, w *world, addr string, tweak func(*Config)) *testProxy {
	t.Helper()
	ca, _ := newTestCA(t, "bottle test CA")
	file := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(file, []byte(routes), 0o644); err != nil {
		t.Fatal(err)
	}
	tp := &testProxy{routes: file, ca: ca, world: w, accessLog: &syncBuffer{}, log: &syncBuffer{}}
	cfg := Config{
		RoutesFile: file,
		CA:         ca,
		RootCAs:    w.upstreamCA.pool(),
		Resolve:    w.resolve,
		Getenv:     func(k string) string { return map[string]string{"TEST_API_KEY": testSecret}[k] },
		AccessLog:  tp.accessLog,
		Log:        tp.log,
		Spin:       200 * time.Microsecond, // as bottle egress runs
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	tp.Proxy = p
	tp.url = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	return tp
}

// client goes through the proxy and trusts both the bottle CA (for
// intercepted hosts) and the upstream CA (for plain tunnels).
func (tp *testProxy) client(t testing.TB) *http.Client {
	roots := tp.world.upstreamCA.pool()
	roots.AddCert(tp.ca.cert)
	tr := &http.Transport{
		Proxy:           http.ProxyURL(tp.url),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}
	t.Cleanup(tr.CloseIdleConnections) // before the proxy's Shutdown: tunnels end
	return &http.Client{Transport: tr}
}

func get(t testing.TB, c *http.Client, method, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func decodeSeen(t testing.TB, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("upstream body %q: %v", body, err)
	}
	return s
}

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

// rawRequest sends text to the proxy on a fresh connection and returns the
// status line of the answer.
func rawRequest(t *testing.T, tp *testProxy, text string) string {
	t.Helper()
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, text)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return strings.TrimSpace(line)
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

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out waiting")
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
	tp := startProxy(t, testRoutes)
	testHookBeforeTunnel = func() {
		os.WriteFile(tp.routes, []byte("routes:\n  - host: plain.example.test\n"), 0o644)
		if err := tp.Reload(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { testHookBeforeTunnel = nil })
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

// serveProxy serves p on a loopback port until the test ends, and returns
// its URL.
func serveProxy(t *testing.T, p *Proxy) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln)
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}
