package egress

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

// Why the egress denies a request: the access log's "reason", and what
// `bottle routes check` prints. Fixed words, never a value the client sent.
const (
	ReasonNoRoute    = "no route"        // no route for the host
	ReasonPath       = "path"            // the route's paths do not include it
	ReasonMethod     = "method"          // the route's methods do not include it, or TRACE/TRACK on an inject route
	ReasonPort       = "port"            // the route's ports (443 for inject) do not include it
	ReasonHeader     = "header"          // a method-override header on a route with methods
	ReasonAmbiguous  = "ambiguous path"  // dot segments or encoded slashes on a route with paths
	ReasonCleartext  = "inject on http"  // an inject route's credential never crosses the network in clear
	ReasonPrivate    = "private address" // the host is at an address the route does not allow (private:)
	ReasonExpired    = "expired"         // the route's expires: has passed
	ReasonUsedUp     = "used up"         // the route's uses: are all used
	ModeTunnel       = "tunnel"          // https through a plain tunnel: the egress sees host and port only
	ModeIntercept    = "intercept"       // https decrypted: paths, methods and inject apply
	ModeHTTP         = "http"            // plain http through the proxy
	methodTraceTrack = "TRACE"
)

// refusal says why route r refuses method and path (the escaped path):
// ReasonMethod, ReasonPath, or "" when both pass. It is Allows, with the
// reason the egress logs.
func refusal(r *routes.Route, method, path string) string {
	if len(r.Methods) > 0 && !(&routes.Route{Methods: r.Methods}).Allows(method, path) {
		return ReasonMethod
	}
	if !r.Allows(method, path) {
		return ReasonPath
	}
	return ""
}

// Query is a request to decide offline, as `bottle routes check` asks.
type Query struct {
	Method string      // GET, POST...; an https URL with CONNECT asks about the tunnel only
	URL    string      // http://host[:port]/path or https://host[:port]/path (the query string is ignored)
	Header http.Header // the request's headers, for the method-override rule; may be nil
	Now    time.Time   // for expiry; zero is time.Now()
	// Used is the requests already counted against a route with uses:;
	// nil counts none.
	Used func(*routes.Route) int
}

// Verdict is what the egress would do with a Query.
type Verdict struct {
	Allow  bool
	Reason string        // why it is denied ("" when allowed): one of the Reason constants
	Route  *routes.Route // the route matched, nil for none
	Mode   string        // ModeTunnel, ModeIntercept or ModeHTTP
	Inject []string      // names of the headers the egress sets (never their values)
	Host   string
	Port   string
	Path   string
	// Unchecked says what only the live egress can decide: the address
	// the host resolves to (private:), and whether an injected variable is
	// set in its environment.
	Unchecked []string
}

// Decide says what the proxy would do with q under rs, with the checks the proxy
// makes, in its order (session.go's handle and tunnel.go's connect), without sending
// anything. The proxy takes a use of a route with uses: when it allows a
// request; Decide only reads the count (q.Used).
func Decide(rs *routes.Routes, q Query) (Verdict, error) {
	v, err := queryTarget(q)
	if err != nil {
		return Verdict{}, err
	}
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	method := strings.ToUpper(q.Method)
	r := rs.Match(v.Host)
	v.Route = r
	if r == nil {
		v.Reason = ReasonNoRoute
		return v, nil
	}
	if v.Mode == ModeTunnel && v.decideConnect(q, r, method, now) {
		return v, nil
	}
	// handle: the request itself, on the proxy port or inside an
	// intercepted tunnel.
	if v.Reason = v.requestRefusal(q, r, method, now); v.Reason != "" {
		return v, nil
	}
	v.Allow = true
	if r.Inject != nil {
		v.Inject = []string{r.Inject.Header}
	}
	v.unchecked(r)
	return v, nil
}

// queryTarget is a Verdict with q.URL's host, port, path and mode.
func queryTarget(q Query) (Verdict, error) {
	u, err := url.Parse(q.URL)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Mode: ModeHTTP}
	defPort := "80"
	switch u.Scheme {
	case "http":
	case "https":
		defPort, v.Mode = "443", ModeTunnel
	default:
		return Verdict{}, &url.Error{Op: "check", URL: q.URL, Err: errScheme}
	}
	host, port, err := splitHostPort(u.Host, defPort)
	if err != nil {
		return Verdict{}, err
	}
	v.Host, v.Port, v.Path = host, port, u.EscapedPath()
	if v.Path == "" {
		v.Path = "/"
	}
	return v, nil
}

// decideConnect makes connect's checks: port, expiry, then the tunnel or
// the interception. It reports whether v is final; when it is not, the
// request inside the intercepted tunnel is decided next.
func (v *Verdict) decideConnect(q Query, r *routes.Route, method string, now time.Time) bool {
	if !r.AllowsPort(v.Port) {
		v.Reason = ReasonPort
		return true
	}
	if r.Expired(now) {
		v.Reason = ReasonExpired
		return true
	}
	if r.Intercepts() && method != http.MethodConnect {
		v.Mode = ModeIntercept
		return false
	}
	if !r.Intercepts() && r.Uses > 0 && used(q, r) >= r.Uses {
		v.Reason = ReasonUsedUp
		return true
	}
	if v.Reason = addrRefusal(v.Host, r); v.Reason != "" {
		return true
	}
	v.Allow = true
	if r.Intercepts() {
		v.Mode = ModeIntercept
	}
	v.unchecked(r)
	return true
}

// requestRefusal makes handle's checks, in its order, and says why r
// refuses the request ("" when it allows it).
func (v *Verdict) requestRefusal(q Query, r *routes.Route, method string, now time.Time) string {
	if len(r.Paths) > 0 && ambiguousPath(v.Path) {
		return ReasonAmbiguous
	}
	if why := refusal(r, method, v.Path); why != "" {
		return why
	}
	if q.Header != nil && refusesHeaders(r, &http.Request{Header: q.Header}) != "" {
		return ReasonHeader
	}
	if r.Inject != nil && v.Mode == ModeHTTP {
		return ReasonCleartext
	}
	if r.Inject != nil && (method == methodTraceTrack || method == "TRACK") {
		return ReasonMethod
	}
	if !r.AllowsPort(v.Port) {
		return ReasonPort
	}
	if r.Expired(now) {
		return ReasonExpired
	}
	if r.Uses > 0 && used(q, r) >= r.Uses {
		return ReasonUsedUp
	}
	return addrRefusal(v.Host, r)
}

func used(q Query, r *routes.Route) int {
	if q.Used == nil {
		return 0
	}
	return q.Used(r)
}

// addrRefusal checks a host given as an address against the route's
// private: networks, as the dialler would; a name is resolved only when
// dialled, so it is not checked here.
func addrRefusal(host string, r *routes.Route) string {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	if checkAddr(a, r.Private) != nil {
		return ReasonPrivate
	}
	return ""
}

func (v *Verdict) unchecked(r *routes.Route) {
	if net.ParseIP(v.Host) == nil {
		v.Unchecked = append(v.Unchecked, "the address "+v.Host+" resolves to (special-purpose addresses are refused unless the route has private:)")
	}
	if r.Inject != nil {
		v.Unchecked = append(v.Unchecked, "that $"+r.Inject.Env+" is set in the egress")
	}
}

type schemeError struct{}

func (schemeError) Error() string { return "scheme must be http or https" }

var errScheme error = schemeError{}
