package egress

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

// decideRoutes has a route of every kind: plain, with rules and inject,
// ports, a wildcard, expired and not yet, with a use count, and one with
// no private: opt-in given as an address.
func decideRoutes(now time.Time) string {
	past := now.Add(-time.Hour).UTC().Format(time.RFC3339)
	future := now.Add(time.Hour).UTC().Format(time.RFC3339)
	return `routes:
  - host: open.test
    private: true
  - host: api.test
    private: true
    paths: ["/v1/"]
    methods: [GET, POST]
    inject:
      header: x-api-key
      env: TEST_API_KEY
  - host: ro.test
    private: true
    methods: [GET, HEAD]
  - host: paths.test
    private: true
    paths: ["/pub/", "/docs"]
  - host: ports.test
    private: true
    ports: [8443, 80]
  - host: "*.wild.test"
    private: true
  - host: old.test
    private: true
    expires: "` + past + `"
  - host: oldrules.test
    private: true
    paths: ["/"]
    expires: "` + past + `"
  - host: soon.test
    private: true
    expires: "` + future + `"
  - host: three.test
    private: true
    uses: 3
  - host: twice.test
    private: true
    paths: ["/a"]
    uses: 2
  - host: 127.0.0.1
`
}

// The egress and Decide (bottle routes check) agree, request by request,
// on a table of requests over every rule: allow or deny, the reason, the
// route, the mode and the injected header.
func TestDecideAgreesWithProxy(t *testing.T) {
	w := newWorld(t)
	for _, h := range []string{"open.test", "api.test", "ro.test", "paths.test", "ports.test", "x.wild.test", "a.b.wild.test", "old.test", "oldrules.test", "soon.test", "three.test", "twice.test", "nowhere.test"} {
		w.addrs[h+":80"] = w.httpAddr
		w.addrs[h+":443"] = w.httpsAddr
		w.addrs[h+":8443"] = w.httpsAddr
		w.addrs[h+":8080"] = w.httpAddr
	}
	w.addrs["127.0.0.1:80"] = w.httpAddr
	tp := startProxyIn(t, decideRoutes(time.Now()), w)

	type req struct {
		method, url string
		header      []string
	}
	table := []req{
		{"GET", "http://open.test/", nil},
		{"POST", "http://open.test/x?token=1", nil},
		{"GET", "https://open.test/", nil},
		{"DELETE", "https://open.test/anything", nil},
		{"GET", "https://open.test:8443/", nil},
		{"GET", "http://nowhere.test/", nil},
		{"GET", "https://nowhere.test/", nil},
		{"GET", "https://api.test/v1/models", nil},
		{"POST", "https://api.test/v1/messages", nil},
		{"DELETE", "https://api.test/v1/messages", nil},
		{"GET", "https://api.test/v2/models", nil},
		{"GET", "https://api.test/", nil},
		{"TRACE", "https://api.test/v1/x", nil},
		{"GET", "https://api.test/v1/../admin", nil},
		{"GET", "https://api.test/v1/%2e%2e/admin", nil},
		{"GET", "http://api.test/v1/models", nil},
		{"GET", "https://api.test:8443/v1/models", nil},
		{"GET", "https://api.test/v1/models", []string{"X-HTTP-Method-Override", "DELETE"}},
		{"GET", "https://ro.test/", nil},
		{"HEAD", "https://ro.test/file", nil},
		{"POST", "https://ro.test/", nil},
		{"GET", "http://ro.test/", nil},
		{"PUT", "http://ro.test/", nil},
		{"GET", "http://ro.test/", []string{"X-Method-Override", "PUT"}},
		{"GET", "https://paths.test/pub/a", nil},
		{"GET", "https://paths.test/pub", nil},
		{"GET", "https://paths.test/docs", nil},
		{"GET", "https://paths.test/docsearch", nil},
		{"GET", "https://paths.test/private", nil},
		{"POST", "http://paths.test/pub/x", nil},
		{"GET", "http://paths.test/secret", nil},
		{"GET", "https://ports.test:8443/", nil},
		{"GET", "https://ports.test/", nil},
		{"GET", "http://ports.test/", nil},
		{"GET", "http://ports.test:8080/", nil},
		{"GET", "http://x.wild.test/", nil},
		{"GET", "https://a.b.wild.test/", nil},
		{"GET", "http://wild.test/", nil},
		{"GET", "http://old.test/", nil},
		{"GET", "https://old.test/", nil},
		{"GET", "https://oldrules.test/", nil},
		{"GET", "http://oldrules.test/", nil},
		{"GET", "http://soon.test/", nil},
		{"GET", "https://soon.test/", nil},
		{"GET", "http://three.test/", nil},
		{"GET", "https://three.test/", nil},
		{"POST", "http://three.test/", nil},
		{"GET", "http://three.test/", nil},
		{"GET", "https://three.test/", nil},
		{"GET", "https://twice.test/a", nil},
		{"GET", "https://twice.test/b", nil},
		{"GET", "https://twice.test/a", nil},
		{"GET", "https://twice.test/a", nil},
		{"GET", "http://twice.test/a", nil},
		{"GET", "http://127.0.0.1/", nil},
		{"GET", "http://open.test/again", nil},
	}
	if len(table) < 50 {
		t.Fatalf("table has %d requests, want at least 50", len(table))
	}
	rs := tp.Routes()
	allowed, denied := 0, 0
	for _, r := range table {
		header := http.Header{}
		for i := 0; i+1 < len(r.header); i += 2 {
			header.Set(r.header[i], r.header[i+1])
		}
		want, err := Decide(rs, Query{Method: r.method, URL: r.url, Header: header, Used: tp.Used})
		if err != nil {
			t.Fatalf("%s %s: Decide: %v", r.method, r.url, err)
		}
		got := tp.decision(t, r.method, r.url, r.header)
		name := fmt.Sprintf("%s %s %v", r.method, r.url, r.header)
		if got.allow != want.Allow || got.Reason != want.Reason || got.Mode != want.Mode {
			t.Errorf("%s: egress %+v, check %+v", name, got, want)
		}
		route := ""
		if want.Route != nil {
			route = want.Route.Host
		}
		if got.Route != route || got.Inject != strings.Join(want.Inject, ",") {
			t.Errorf("%s: egress route %q inject %q, check route %q inject %v", name, got.Route, got.Inject, route, want.Inject)
		}
		if want.Allow {
			allowed++
		} else {
			denied++
		}
	}
	if allowed < 15 || denied < 25 {
		t.Errorf("the table should exercise both sides: %d allowed, %d denied", allowed, denied)
	}
}

// decided is the egress's decision on one request, from its access log.
type decided struct {
	allow                                 bool
	Decision, Reason, Mode, Route, Inject string
}

// decision sends one request through the proxy on a connection of its own
// and returns the access log's last decision for it (an intercepted
// tunnel's CONNECT line is not one: the request inside it is).
func (tp *testProxy) decision(t *testing.T, method, u string, header []string) decided {
	t.Helper()
	roots := tp.world.upstreamCA.pool()
	roots.AddCert(tp.ca.cert)
	tr := &http.Transport{Proxy: http.ProxyURL(tp.url), TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	before := len(tp.accessLog.String())
	resp, _ := get(t, &http.Client{Transport: tr}, method, u, header...)
	_ = resp
	var d decided
	waitFor(t, func() bool {
		lines := strings.Split(strings.TrimSpace(tp.accessLog.String()[before:]), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			d = decided{}
			if json.Unmarshal([]byte(lines[i]), &d) != nil || d.Decision == "intercept" {
				continue
			}
			d.allow = d.Decision == "allow" || d.Decision == "tunnel"
			return true
		}
		return false
	})
	return d
}

// A use count survives a reload of the same routes and a restart with the
// same state directory; a new grant for the host starts from zero.
func TestUsesSurviveReloadAndRestart(t *testing.T) {
	dir := t.TempDir()
	routes := "routes:\n  - host: plain.example.test\n    private: true\n    uses: 3\n"
	w := newWorld(t)
	withState := func(c *Config) { c.StateDir = dir }
	tp := startProxyWith(t, routes, w, "127.0.0.1:0", withState)
	status := func(tp *testProxy) int {
		resp, body := get(t, tp.client(t), "GET", "http://plain.example.test/")
		if resp == nil {
			t.Fatalf("no answer: %s", body)
		}
		return resp.StatusCode
	}
	if s := status(tp); s != 200 {
		t.Fatalf("first use: %d", s)
	}
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	if s := status(tp); s != 200 {
		t.Fatalf("second use, after a reload: %d", s)
	}
	data, _ := os.ReadFile(filepath.Join(dir, UsesFile))
	if !strings.Contains(string(data), `"plain.example.test never 3":2`) {
		t.Errorf("uses.json after two uses: %s", data)
	}
	tp2 := startProxyWith(t, routes, w, "127.0.0.1:0", withState) // a restart: the same state dir
	if s := status(tp2); s != 200 {
		t.Fatalf("third use, after a restart: %d", s)
	}
	if s := status(tp2); s != 403 {
		t.Fatalf("fourth use: %d, want 403", s)
	}
	if !strings.Contains(tp2.accessLog.String(), `"reason":"used up"`) {
		t.Errorf("access log: %s", tp2.accessLog)
	}
	tp3 := startProxyWith(t, strings.Replace(routes, "uses: 3", "uses: 4", 1), w, "127.0.0.1:0", withState)
	if s := status(tp3); s != 200 {
		t.Fatalf("a new grant: %d", s)
	}
	data, _ = os.ReadFile(filepath.Join(dir, UsesFile))
	if strings.Contains(string(data), "never 3") {
		t.Errorf("uses.json keeps a grant that went: %s", data)
	}
}

// A plain tunnel opened before its route expires is closed when it does.
func TestExpiryClosesTunnel(t *testing.T) {
	exp := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	tp := startProxy(t, "routes:\n  - host: tunnel.example.test\n    private: true\n    expires: \""+exp+"\"\n")
	c := tp.client(t)
	if resp, body := get(t, c, "GET", "https://tunnel.example.test/"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("before expiry: %v %s", resp, body)
	}
	waitFor(t, func() bool { return strings.Contains(tp.log.String(), "whose route expired") })
	if resp, _ := get(t, c, "GET", "https://tunnel.example.test/"); resp != nil && resp.StatusCode == 200 {
		t.Fatalf("after expiry: %v", resp.Status)
	}
	if !strings.Contains(tp.accessLog.String(), `"reason":"expired"`) {
		t.Errorf("access log: %s", tp.accessLog)
	}
}

func TestRoutesExpiresAndUsesParse(t *testing.T) {
	for _, bad := range []string{
		"routes:\n  - host: a.test\n    expires: tomorrow\n",
		"routes:\n  - host: a.test\n    expires: 2026-13-01T00:00:00Z\n",
		"routes:\n  - host: a.test\n    uses: 0\n",
		"routes:\n  - host: a.test\n    uses: \"3\"\n",
		"routes:\n  - host: a.test\n    uses: 1.5\n",
	} {
		if _, err := routes.Parse([]byte(bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		} else if !strings.Contains(err.Error(), "line 3: ") {
			t.Errorf("error does not name the line: %v", err)
		}
	}
	rs, err := routes.Parse([]byte("routes:\n  - host: a.test\n    expires: 2026-12-01T10:00:00+02:00\n    uses: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Routes[0]; !r.Expires.Equal(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)) || r.Uses != 5 {
		t.Errorf("parsed %+v", r)
	}
}
