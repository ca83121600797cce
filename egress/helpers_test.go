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
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out waiting")
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
