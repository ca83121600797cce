package egress

import (
	"strings"
	"testing"
)

// Attack (issue 10 follow-up): the method-override headers spelled with "_"
// for "-". WSGI (gunicorn before 22, werkzeug), CGI and PHP behind a server
// that keeps underscored headers read X_HTTP_METHOD_OVERRIDE as
// X-HTTP-Method-Override (both become HTTP_X_HTTP_METHOD_OVERRIDE), so a
// route with methods: [GET] forwards a request the server runs as DELETE.
// The egress already drops the "_" spellings of the injected header for the
// same reason; the override check compares canonical keys only.
func TestAttackMethodOverrideUnderscoreSpellingsRefused(t *testing.T) {
	tp := echoProxy(t)
	tc, br := interceptedConn(t, tp, "api.example.test:443")
	for _, h := range []string{"X_HTTP_METHOD_OVERRIDE", "x_http_method", "X_Method_Override", "X-HTTP_Method-Override"} {
		status, body := innerExchange(t, tc, br, "POST /v1/x HTTP/1.1\r\nHost: api.example.test\r\nContent-Length: 0\r\n"+h+": DELETE\r\n\r\n")
		if !strings.Contains(status, " 403 ") {
			t.Errorf("%s: DELETE on a route with methods (GET, POST): %s %q", h, status, body)
		}
	}
}
