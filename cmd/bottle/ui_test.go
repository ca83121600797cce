package main

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// uiFixture is a bottle ui on loopback over a state root with one bottle
// (metadata, a route, a denial whose path holds markup, an audit line and
// a CA key that must never show).
type uiFixture struct {
	t     *testing.T
	url   string
	token string
	root  string
}

const uiTestKey = "-----BEGIN PRIVATE KEY-----\nca-key-must-not-show\n"

func newUIFixture(t *testing.T) *uiFixture {
	root := t.TempDir()
	dir := filepath.Join(root, "demo")
	for name, body := range map[string]string{
		"metadata.json":           `{"name":"demo","slug":"demo","status":"running","created":"2026-11-30T20:00:00Z","services":{"agent":"bottle-demo-agent-1"}}`,
		"live-config/routes.yaml": "routes:\n  - host: example.com\n    inject: {header: x-api-key, env: DEMO_KEY}\n",
		"egress/decisions.jsonl":  `{"time":"2026-11-30T20:01:00Z","method":"GET","host":"evil.example","path":"/<script>alert(1)</script>","decision":"deny","reason":"no route","status":403}` + "\n",
		"audit.jsonl":             `{"time":"2026-11-30T20:00:00Z","action":"routes_apply","recipe":"routes_apply.star","args":{"x":"arg-not-shown"},"diff":"-old\n+new\n"}` + "\n",
		"ca/ca.key":               uiTestKey,
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	token := randomHex(32)
	srv := &http.Server{Handler: newUIServer(root, ln.Addr().String(), "127.0.0.1", token)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &uiFixture{t: t, url: "http://" + ln.Addr().String(), token: token, root: root}
}

// login is a client whose cookie jar holds a session, and a form token of
// its pages.
func (f *uiFixture) login() (*http.Client, string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(f.url + "/b/demo?token=" + f.token)
	if err != nil {
		f.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" {
		f.t.Fatalf("login: %s at %s, want 200 at /b/demo without the token", resp.Status, resp.Request.URL)
	}
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindSubmatch(body)
	if m == nil {
		f.t.Fatalf("login: no form token in the page:\n%s", body)
	}
	return c, string(m[1])
}

func (f *uiFixture) do(c *http.Client, req *http.Request) (int, string) {
	f.t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUIRefusesWithoutToken(t *testing.T) {
	f := newUIFixture(t)
	for _, path := range []string{"/", "/b/demo", "/b/demo/events", "/jobs/1", "/?token=" + strings.Repeat("0", 64), "/?token="} {
		req, _ := http.NewRequest("GET", f.url+path, nil)
		code, body := f.do(nil, req)
		if code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("GET %s without the token: %d, want 401 or 403", path, code)
		}
		if strings.Contains(body, "demo") || strings.Contains(body, "evil.example") {
			t.Errorf("GET %s without the token shows the bottle:\n%s", path, body)
		}
	}
	req, _ := http.NewRequest("POST", f.url+"/b/demo/action", strings.NewReader("action=stop"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.url)
	if code, _ := f.do(nil, req); code != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d, want 401", code)
	}
}

func TestUILoginSetsStrictCookie(t *testing.T) {
	f := newUIFixture(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(f.url + "/?token=" + f.token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("token exchange: %s to %q, want 303 to / (the token out of the address bar)", resp.Status, resp.Header.Get("Location"))
	}
	set := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, f.token) {
		t.Errorf("the cookie is the token itself: %q", set)
	}
}

func TestUIRefusesCrossSitePost(t *testing.T) {
	f := newUIFixture(t)
	c, csrf := f.login()
	post := func(origin, site, form string) int {
		req, _ := http.NewRequest("POST", f.url+"/b/demo/action", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		code, _ := f.do(c, req)
		return code
	}
	// A bad action gets past the guard and is refused by the handler (400):
	// nothing runs, and it tells the guard's 403 apart.
	good := "action=nonsense&csrf=" + csrf
	if code := post(f.url, "same-origin", good); code != http.StatusBadRequest {
		t.Fatalf("same-origin POST with the form token: %d, want 400 from the handler", code)
	}
	for _, tc := range []struct{ what, origin, site, form string }{
		{"Origin of another site", "http://evil.example", "", good},
		{"Origin null", "null", "", good},
		{"no Origin", "", "", good},
		{"Sec-Fetch-Site cross-site", f.url, "cross-site", good},
		{"Sec-Fetch-Site same-site", f.url, "same-site", good},
		{"no form token", f.url, "same-origin", "action=stop"},
		{"another form token", f.url, "same-origin", "action=stop&csrf=" + strings.Repeat("a", 64)},
	} {
		if code := post(tc.origin, tc.site, tc.form); code != http.StatusForbidden {
			t.Errorf("POST with %s: %d, want 403", tc.what, code)
		}
	}
}

func TestUIRefusesWrongHost(t *testing.T) {
	f := newUIFixture(t)
	c, _ := f.login()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(f.url, "http://"))
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "10.0.0.1:" + port} {
		req, _ := http.NewRequest("GET", f.url+"/", nil)
		req.Host = host
		if code, body := f.do(c, req); code != http.StatusMisdirectedRequest || strings.Contains(body, "demo") {
			t.Errorf("GET / with Host %s: %d, want 421 and no bottle", host, code)
		}
	}
	req, _ := http.NewRequest("GET", f.url+"/", nil)
	req.Host = "localhost:" + port
	if code, _ := f.do(c, req); code == http.StatusMisdirectedRequest {
		t.Errorf("GET / with Host localhost:%s: %d, want it past the Host check", port, code)
	}
}

func TestUIPagesEscapeAndHideSecrets(t *testing.T) {
	f := newUIFixture(t)
	c, _ := f.login()
	for _, path := range []string{"/", "/b/demo", "/b/demo?denied=1"} {
		req, _ := http.NewRequest("GET", f.url+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s header", path, h)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		for _, bad := range []string{"<script>alert", "ca-key-must-not-show", "PRIVATE KEY", "arg-not-shown", f.token} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s shows %q", path, bad)
			}
		}
		if regexp.MustCompile(`<script>[^<]`).MatchString(body) {
			t.Errorf("GET %s has an inline script", path)
		}
	}
	req, _ := http.NewRequest("GET", f.url+"/b/demo", nil)
	_, body := f.do(c, req)
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "X-Api-Key", `class="add">&#43;new`, `class="del">-old`} {
		if !strings.Contains(body, want) {
			t.Errorf("the bottle page lacks %q", want)
		}
	}
	if strings.Contains(body, "DEMO_KEY") {
		t.Errorf("the bottle page names the injected variable")
	}
}

func TestUIAnswerChecksTheRequest(t *testing.T) {
	f := newUIFixture(t)
	c, csrf := f.login()
	form := url.Values{"csrf": {csrf}, "id": {"r-none"}, "decision": {"deny"}}
	req, _ := http.NewRequest("POST", f.url+"/b/demo/answer", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.url)
	if code, body := f.do(c, req); code != http.StatusNotFound || !strings.Contains(body, "has no request") {
		t.Errorf("deny of an unknown request: %d, want 404 naming it:\n%s", code, body)
	}
}

func TestUIListenRefusesBadAddress(t *testing.T) {
	for _, args := range [][]string{{"--listen", "nonsense"}, {"--listen", "127.0.0.1"}, {"extra"}} {
		var out, errs strings.Builder
		if code := bottleMain(append([]string{"ui"}, args...), &out, &errs); code != exitUsage {
			t.Errorf("bottle ui %v: exit %d, want %d\n%s", args, code, exitUsage, errs.String())
		}
		if strings.Contains(out.String(), "token=") {
			t.Errorf("bottle ui %v printed a token though it did not start", args)
		}
	}
}

// Which Host headers name the server, by what it listens on.
func TestUIHostNames(t *testing.T) {
	for _, tc := range []struct {
		addr, host string
		ok         map[string]bool
	}{
		{"127.0.0.1:8080", "127.0.0.1", map[string]bool{"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:8080": true,
			"127.0.0.1:8081": false, "evil.example:8080": false, "localhost.evil.example:8080": false, "10.0.0.1:8080": false}},
		{"0.0.0.0:8080", "0.0.0.0", map[string]bool{"10.1.2.3:8080": true, "[fd00::1]:8080": true,
			"10.1.2.3:9999": false, "evil.example:8080": false, "rebind.example:8080": false}},
		{"192.168.1.5:8080", "192.168.1.5", map[string]bool{"192.168.1.5:8080": true, "10.1.2.3:8080": false, "evil.example:8080": false}},
		{"my.host:8080", "my.host", map[string]bool{"my.host:8080": true, "evil.example:8080": false}},
	} {
		g := newGuard(tc.addr, tc.host, "t")
		for host, want := range tc.ok {
			if got := g.hostOK(host); got != want {
				t.Errorf("listening on %s: Host %s accepted=%v, want %v", tc.addr, host, got, want)
			}
		}
	}
}

func TestUIOpenAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080":   "127.0.0.1:8080",
		"[::]:8080":        "127.0.0.1:8080",
		"0.0.0.0:8080":     "127.0.0.1:8080",
		"192.168.1.5:8080": "192.168.1.5:8080",
	} {
		if got := openAddr(addr); got != want {
			t.Errorf("listening on %s, bottle ui prints %s, want %s", addr, got, want)
		}
	}
}
