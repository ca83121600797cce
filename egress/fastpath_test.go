package egress

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
)

// The per-connection memo of route matches must not outlive a reload: a
// keep-alive connection inside an intercepted tunnel sees new routes on
// its next request.
func TestReloadAppliesToAnOpenInterceptedConnection(t *testing.T) {
	tp := startProxy(t, testRoutes)
	c := tp.client(t)
	var reused []bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
	do := func() int {
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", "https://api.example.test/v1/models", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) // read whole, so the connection is reused
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := do(); s != 200 {
		t.Fatalf("before reload: %d", s)
	}
	os.WriteFile(tp.routes, []byte(strings.Replace(testRoutes, `paths: ["/v1/"]`, `paths: ["/v2/"]`, 1)), 0o644)
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	if s := do(); s != 403 {
		t.Fatalf("after reload narrowed the paths: %d, want 403", s)
	}
	if len(reused) != 2 || !reused[1] {
		t.Fatalf("the second request did not reuse the connection: %v", reused)
	}
}

func TestWriteStatusLine(t *testing.T) {
	for _, tc := range []struct {
		code   int
		status string
	}{{200, "200 OK"}, {404, "404 Not Found"}, {299, "299"}, {500, "500 "}, {201, "201 Created here"}, {200, "200OK"}, {99, "099 odd"}} {
		var sb strings.Builder
		bw := bufio.NewWriter(&sb)
		writeStatusLine(bw, &http.Response{StatusCode: tc.code, Status: tc.status})
		bw.Flush()
		want := fmt.Sprintf("HTTP/1.1 %03d %s\r\n", tc.code, strings.TrimPrefix(tc.status, fmt.Sprint(tc.code)+" "))
		if sb.String() != want {
			t.Errorf("%d %q: %q, want %q", tc.code, tc.status, sb.String(), want)
		}
	}
}

func TestFirstTwoFields(t *testing.T) {
	for _, s := range []string{"GET / HTTP/1.1", "  GET\t/x  HTTP/1.1\r", "GET", "", "GET\u00a0/ x", "A B"} {
		a, b := firstTwoFields(s)
		var wa, wb string
		if f := strings.Fields(s); len(f) >= 2 {
			wa, wb = f[0], f[1]
		}
		if a != wa || b != wb {
			t.Errorf("%q: %q %q, want %q %q", s, a, b, wa, wb)
		}
	}
}

func TestStripHopByHop(t *testing.T) {
	h := http.Header{
		"Connection":   {"X-Secret-Hop, keep-alive", " ,Other"},
		"X-Secret-Hop": {"1"},
		"Other":        {"2"},
		"Keep-Alive":   {"timeout=5"},
		"Te":           {"trailers"},
		"Accept":       {"*/*"},
	}
	stripHopByHop(h)
	if len(h) != 1 || h.Get("Accept") != "*/*" {
		t.Fatalf("left %v", h)
	}
}
