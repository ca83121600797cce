package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

// echoRoutes adds to testRoutes an inject route with no methods and one
// with ports; the world's https upstream echoes every header it gets.
const echoRoutes = testRoutes + `  - host: echo.example.test
    private: true
    inject: {header: x-api-key, env: TEST_API_KEY}
  - host: alt.example.test
    private: true
    ports: [8443]
    inject: {header: x-api-key, env: TEST_API_KEY}
  - host: web.example.test
    private: true
    ports: [80, 8080]
`

func echoProxy(t *testing.T) *testProxy {
	w := newWorld(t)
	for _, h := range []string{"echo.example.test", "alt.example.test"} {
		w.addrs[h+":443"] = w.httpsAddr
		w.addrs[h+":8443"] = w.httpsAddr
	}
	w.addrs["web.example.test:80"] = w.httpAddr
	w.addrs["web.example.test:8080"] = w.httpAddr
	w.addrs["web.example.test:8081"] = w.httpAddr
	return startProxyIn(t, echoRoutes, w)
}

// innerExchange sends one request inside tc and returns the answer.
func innerExchange(t *testing.T, tc io.Writer, br *bufio.Reader, req string) (status, body string) {
	t.Helper()
	io.WriteString(tc, req)
	return readAnswer(t, br)
}

// TRACE and TRACK never leave on an inject route: an upstream that echoes
// them (Apache's default) would hand the credential to the agent.
func TestTraceNeverCarriesTheCredential(t *testing.T) {
	tp := echoProxy(t)
	tc, br := interceptedConn(t, tp, "echo.example.test:443")
	for _, m := range []string{"TRACE", "TRACK"} {
		status, body := innerExchange(t, tc, br, m+" / HTTP/1.1\r\nHost: echo.example.test\r\n\r\n")
		if !strings.Contains(status, " 403 ") || strings.Contains(body, testSecret) || !strings.Contains(body, m+" is never sent on the route for echo.example.test") {
			t.Errorf("%s on an inject route: %s %q", m, status, body)
		}
	}
	// Every other method still goes, with the credential.
	for _, m := range []string{"GET", "DELETE", "PROPFIND"} {
		status, body := innerExchange(t, tc, br, m+" / HTTP/1.1\r\nHost: echo.example.test\r\n\r\n")
		if !strings.Contains(status, " 200 ") || !strings.Contains(body, testSecret) {
			t.Errorf("%s on an inject route with no methods: %s %q", m, status, body)
		}
	}
	if _, err := routes.Parse([]byte("routes:\n  - host: a.test\n    methods: [GET, trace]\n    inject: {header: x-api-key, env: K}\n")); err == nil || !strings.Contains(err.Error(), "line 2: methods: TRACE on a route with inject would echo the credential") {
		t.Errorf("methods: [TRACE] with inject: %v", err)
	}
}

// An inject route sends its credential to port 443 only, unless it lists
// ports; ports limit any route.
func TestInjectOnlyToItsPorts(t *testing.T) {
	tp := echoProxy(t)
	status, body := rawExchange(t, tp, "CONNECT echo.example.test:8443 HTTP/1.1\r\n\r\n")
	if !strings.Contains(status, " 403 ") || !strings.Contains(body, "port 8443 of echo.example.test: the route on line 15") || !strings.Contains(body, "ports: [443, 8443]") {
		t.Errorf("CONNECT to another port of an inject route: %s %q", status, body)
	}
	tc, br := interceptedConn(t, tp, "alt.example.test:8443")
	if status, body := innerExchange(t, tc, br, "GET / HTTP/1.1\r\nHost: alt.example.test:8443\r\n\r\n"); !strings.Contains(status, " 200 ") || !strings.Contains(body, testSecret) {
		t.Errorf("a port the route lists: %s %q", status, body)
	}
	status, body = rawExchange(t, tp, "CONNECT alt.example.test:443 HTTP/1.1\r\n\r\n")
	if !strings.Contains(status, " 403 ") || !strings.Contains(body, "port 443 of alt.example.test is not in the ports of the route on line 18") {
		t.Errorf("CONNECT to a port the route does not list: %s %q", status, body)
	}
	for port, want := range map[string]string{"80": " 200 ", "8080": " 200 ", "8081": " 403 "} {
		if status, _ := rawExchange(t, tp, fmt.Sprintf("GET http://web.example.test:%s/ HTTP/1.1\r\nHost: web.example.test:%s\r\n\r\n", port, port)); !strings.Contains(status, want) {
			t.Errorf("plain http to port %s of a route with ports: [80, 8080]: %s", port, status)
		}
	}
	for text, want := range map[string]string{
		"ports: [0]\n":       `line 3: ports: "0" is not a port`,
		"ports: [https]\n":   `line 3: ports: "https" is not a port`,
		"ports: [\"443\"]\n": `line 3: ports: "443" is not a port`,
		"ports: []\n":        `line 3: ports: is an empty list`,
		"ports: 443\n":       `line 3: ports: expected a list`,
	} {
		if _, err := routes.Parse([]byte("routes:\n  - host: a.test\n    " + text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", text, err, want)
		}
	}
}

// A route with methods refuses the headers that make servers run a
// request as another method.
func TestMethodOverrideHeadersRefused(t *testing.T) {
	tp := echoProxy(t)
	tc, br := interceptedConn(t, tp, "api.example.test:443")
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "x-http-method-override"} {
		status, body := innerExchange(t, tc, br, "POST /v1/x HTTP/1.1\r\nHost: api.example.test\r\nContent-Length: 0\r\n"+h+": DELETE\r\n\r\n")
		if !strings.Contains(status, " 403 ") || !strings.Contains(strings.ToLower(body), "header "+strings.ToLower(h)+" is refused on a route with methods (get, post)") {
			t.Errorf("%s on a route with methods: %s %q", h, status, body)
		}
	}
	// On a route without methods it means nothing to the egress.
	tc, br = interceptedConn(t, tp, "echo.example.test:443")
	if status, body := innerExchange(t, tc, br, "POST / HTTP/1.1\r\nHost: echo.example.test\r\nContent-Length: 0\r\nX-HTTP-Method-Override: PUT\r\n\r\n"); !strings.Contains(status, " 200 ") {
		t.Errorf("override header on a route without methods: %s %q", status, body)
	}
}

// A header spelled with "_" for "-" next to the injected one never leaves.
func TestUnderscoreSpellingOfTheInjectedHeaderDropped(t *testing.T) {
	tp := echoProxy(t)
	tc, br := interceptedConn(t, tp, "echo.example.test:443")
	status, body := innerExchange(t, tc, br, "GET / HTTP/1.1\r\nHost: echo.example.test\r\nx_api_key: agent-underscore\r\nX_API-key: agent-mixed\r\nX-Other_Header: kept\r\n\r\n")
	if !strings.Contains(status, " 200 ") {
		t.Fatalf("%s %q", status, body)
	}
	s := decodeSeen(t, body)
	if strings.Contains(body, "agent-underscore") || strings.Contains(body, "agent-mixed") || len(s.APIKey) != 1 || s.APIKey[0] != testSecret {
		t.Errorf("upstream saw %v", s.Header)
	}
	if !strings.Contains(body, "kept") {
		t.Errorf("another header with an underscore was dropped: %v", s.Header)
	}
}

// A bare-LF request followed by a pipelined CRLF one: two answers, the
// first read as its own head (before the fix the scanner took the later
// CRLFCRLF and saw the second request's Host header: a spurious 400).
func TestBareLFThenPipelinedCRLF(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET http://plain.example.test/a HTTP/1.1\nHost: plain.example.test\n\nGET http://a.wild.test/b HTTP/1.1\r\nHost: a.wild.test\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"/a", "/b"} {
		status, body := readAnswer(t, br)
		if !strings.Contains(status, " 200 ") || decodeSeen(t, body).Path != want {
			t.Errorf("pipelined request for %s: %s %q", want, status, body)
		}
	}
}

// The access log holds host, method, path and fixed error texts only:
// secrets in every other part of allowed, refused and malformed requests
// never reach it.
func TestAccessLogHoldsNoClientValues(t *testing.T) {
	tp := echoProxy(t)
	long := strings.Repeat("a", 20<<10)
	plain := []string{
		"GET http://plain.example.test/p?token=LEAK1x HTTP/1.1\r\nHost: plain.example.test\r\nAuthorization: Bearer LEAK2x\r\nCookie: s=LEAK3x\r\nProxy-Authorization: Basic LEAK4x\r\n\r\n",
		"GET http://nope.example.test/p?token=LEAK5x HTTP/1.1\r\nHost: nope.example.test\r\nX-Token: LEAK6x\r\n\r\n",
		"GET http://plain.example.test/?q=LEAK7x HTTP/1.1\r\nHost: LEAK8x.example\r\n\r\n",
		"GET /?q=LEAK9x HTTP/1.1\r\nHost: LEAK10x.example\r\n\r\n",
		"GET http://plain.example.test/?q=LEAK11x HTTP/1.1\r\nBad Header LEAK12x\r\n\r\n",
		"GET http://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\nX-Key: LEAK13x\x01\r\n\r\n",
		"GET http://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\nLEAK14x\r\n\r\n",
		"CONNECT LEAK15x.example:44x3 HTTP/1.1\r\n\r\n",
		"CONNECT tunnel.example.test:443/LEAK16x HTTP/1.1\r\n\r\n",
		"CONNECT LEAK17x..example:443 HTTP/1.1\r\n\r\n",
		"GET ftp://LEAK18x.example/ HTTP/1.1\r\nHost: LEAK18x.example\r\n\r\n",
		"GET http://plain.example.test/%zz?LEAK19x HTTP/1.1\r\nHost: plain.example.test\r\n\r\n",
		"LEAK20x\r\n\r\n",
		"GET http://plain.example.test/ HTTP/1.1\r\nX-Big: LEAK21x" + long + "\r\n\r\n",
		"LEAK22x http://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n",
		"POST http://plain.example.test/?LEAK23x HTTP/1.1\r\nHost: plain.example.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET http://plain.example.test:LEAK24x/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n",
		"GET http://plain.example.test/a b?LEAK25x HTTP/1.1\r\nHost: plain.example.test\r\n\r\n",
		"GET http://[LEAK26x]/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n",
		"GET http://user:LEAK27x@plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\n\r\n",
		"GET https://plain.example.test/?LEAK28x HTTP/1.1\r\nHost: plain.example.test\r\n\r\n",
	}
	for _, req := range plain {
		c, err := net.Dial("tcp", tp.url.Host)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		c.(*net.TCPConn).CloseWrite() // no more requests: the proxy closes after its answer
		io.Copy(io.Discard, c)
		c.Close()
	}
	tc, br := interceptedConn(t, tp, "api.example.test:443")
	for _, req := range []string{
		"GET /v2/x?LEAK30x HTTP/1.1\r\nHost: api.example.test\r\nX-Api-Key: LEAK31x\r\n\r\n",
		"GET /v1/x?LEAK32x HTTP/1.1\r\nHost: api.example.test\r\nx_api_key: LEAK33x\r\n\r\n",
		"POST /v1/x HTTP/1.1\r\nHost: api.example.test\r\nContent-Length: 0\r\nX-HTTP-Method-Override: LEAK34x\r\n\r\n",
		"LEAK35x /v1/x HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
		"GET /v1/x?LEAK36x HTTP/1.1\r\nHost: LEAK37x.example\r\n\r\n",
	} {
		innerExchange(t, tc, br, req)
	}
	tc, br = interceptedConn(t, tp, "echo.example.test:443")
	innerExchange(t, tc, br, "TRACE /?LEAK38x HTTP/1.1\r\nHost: echo.example.test\r\nX-Trace: LEAK39x\r\n\r\n")

	waitFor(t, func() bool { return strings.Count(tp.accessLog.String(), "\n") >= len(plain)+2+6 })
	log := tp.accessLog.String()
	if leaks := regexp.MustCompile(`(?i)leak\d+x`).FindAllString(log+tp.log.String(), -1); len(leaks) > 0 || strings.Contains(log+tp.log.String(), testSecret) {
		t.Errorf("the access log holds %v:\n%s", leaks, log)
	}
	for _, want := range []string{`"error":"malformed request"`, `"error":"bad CONNECT target"`, `"error":"request head too large"`,
		`"error":"Host header disagrees with the URL"`, `"error":"not a proxy request"`, `"method":"OTHER"`,
		`"host":"plain.example.test","path":"/p","decision":"allow"`, `"host":"api.example.test","path":"/v2/x","decision":"deny"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the access log lacks %s:\n%s", want, log)
		}
	}
}

// A reload that takes a tunnel's port out of its route's ports, or its
// address out of the route's private networks, closes it.
func TestReloadCutsTunnelsTheRouteNoLongerAllows(t *testing.T) {
	for name, routes := range map[string]string{
		"ports":   "routes:\n  - host: tunnel.example.test\n    private: true\n    ports: [8443]\n",
		"private": "routes:\n  - host: tunnel.example.test\n    private: [10.0.0.0/8]\n",
	} {
		t.Run(name, func(t *testing.T) { testReloadCutsTunnel(t, routes) })
	}
}

func testReloadCutsTunnel(t *testing.T, routes string) {
	tp := startProxy(t, testRoutes)
	c, err := net.Dial("tcp", tp.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT tunnel.example.test:443 HTTP/1.1\r\n\r\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err) // its body is the tunnel: not read
	}
	os.WriteFile(tp.routes, []byte(routes), 0o644)
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tp.log.String(), "egress: closed 1 tunnel(s) the new routes no longer allow untouched: tunnel.example.test:443\n") {
		t.Errorf("log:\n%s", tp.log)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the tunnel the route no longer allows is still open (read %d, %v)", n, err)
	}
}
