// Package routes is the routes.yaml format of the egress sidecar: Parse
// (and ReadFile) validate a file and report every problem as "line N:
// field: what is wrong"; Routes.Match finds the route for a host; a Route
// says what it allows (Allows, AllowsPort, Intercepts). It imports nothing
// of the proxy, so builtins' routes_check and `bottle egress --check` use
// the very parser the proxy runs. The format itself, and what the proxy
// does with each field, is documented in package egress.
//
// # Surface
//
//	Parse(data) (*Routes, error)      parse and validate; errors name line and field
//	ReadFile(path) (*Routes, error)   the same, from a file; errors name the file
//	(*Routes).Match(host) *Route       exact host first, then the longest "*.suffix"
//	(*Routes).Len() int                the number of routes
//	(*Route).Allows(method, path) bool the route's paths prefixes and methods
//	(*Route).AllowsPort(port) bool     the route's ports; 443 only for inject without ports
//	(*Route).Intercepts() bool         paths, methods or inject: https must be decrypted
//	(*Route).Rules() string            the route's limits, for a 403's body
//	(*Route).Expired(now) bool         expires: has passed
//	NormalizeHost(h) string            the form hosts are compared in
//	NormalizePrefixes(ps) []netip.Prefix  the form networks are compared in
//	IsHopByHop(name) bool              a header a proxy never forwards
package routes

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Routes is a parsed and validated routes.yaml. It is immutable once parsed:
// the proxy swaps whole *Routes values on reload, so a request keeps the
// routes it started with.
type Routes struct {
	Routes []Route

	exact    map[string]*Route // host -> route
	suffixes []*Route          // wildcard routes, longest suffix first
}

// Route is one entry of routes.yaml.
type Route struct {
	Host    string   // lowercased: "api.example.com", "*.example.com" or an IP literal
	Paths   []string // path prefixes; empty allows every path
	Methods []string // upper-case methods; empty allows every method
	Inject  *Inject  // nil: the client's headers pass through untouched
	// Private are the special-purpose networks (loopback, private-use,
	// link-local...; egress/private.go) the route may dial: nil allows none,
	// "private: true" is 0.0.0.0/0 and ::/0, a list is those networks.
	Private []netip.Prefix
	// Ports the route allows; empty allows every port, except on a route
	// with inject, which sends its credential to 443 only.
	Ports []int
	// Expires, when not zero, ends the route: from then on the egress
	// denies it (reason "expired"); egress/grants.go.
	Expires time.Time
	// Uses, when not 0, is how many requests the route allows (each
	// request inside an intercepted tunnel, or a plain tunnel, is one);
	// the egress counts them and keeps the count across reloads and
	// restarts (egress/grants.go).
	Uses int
	// Grant names the approval that wrote the route (bottle approve puts
	// the request's id there): it keys the use count, so a re-approval
	// with the same uses: starts a fresh count.
	Grant string
	Line  int // line of the route in the file, for messages and logs
}

// Inject replaces one request header with a secret from the sidecar's
// environment. The client's own value of Header is always removed.
type Inject struct {
	Header string // canonical header name, e.g. "X-Api-Key"
	Env    string // environment variable holding the real value
}

// Expired reports whether the route has an expiry and now is at or past it.
func (r *Route) Expired(now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}

// Intercepts reports whether https traffic on this route must be decrypted:
// only then can paths, methods and injection be enforced.
func (r *Route) Intercepts() bool {
	return len(r.Paths) > 0 || len(r.Methods) > 0 || r.Inject != nil
}

// AllowsPort reports whether the route allows port: one of its ports;
// without ports, any, or 443 only for a route with inject (a credential
// goes to the one port the operator meant, not to whatever else of the
// host's has a certificate for its name).
func (r *Route) AllowsPort(port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil {
		return false
	}
	if len(r.Ports) > 0 {
		return slices.Contains(r.Ports, n)
	}
	return r.Inject == nil || n == 443
}

// Allows reports whether method and path (the request's escaped path) pass
// the route's rules.
func (r *Route) Allows(method, path string) bool {
	if len(r.Methods) > 0 {
		ok := false
		for _, m := range r.Methods {
			if m == method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.Paths) == 0 {
		return true
	}
	for _, p := range r.Paths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Match returns the route for host (no port), or nil. An exact route wins
// over a wildcard; among wildcards the longest suffix wins. "*.example.com"
// matches "a.example.com" and "a.b.example.com" but not "example.com".
func (rs *Routes) Match(host string) *Route {
	if rs == nil {
		return nil
	}
	host = NormalizeHost(host)
	if r, ok := rs.exact[host]; ok {
		return r
	}
	if len(rs.suffixes) == 0 || isIPLiteral(host) {
		return nil // a wildcard names hosts, never addresses
	}
	for _, r := range rs.suffixes {
		suffix := r.Host[1:] // ".example.com"
		if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
			return r
		}
	}
	return nil
}

// Len is the number of routes.
func (rs *Routes) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.Routes)
}

// isIPLiteral reports an IPv6 literal or a name whose last label is all
// digits, which no DNS name has (top-level domains are not numeric) and
// which resolvers read as an IPv4 address.
func isIPLiteral(h string) bool {
	if strings.IndexByte(h, ':') >= 0 {
		return true
	}
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeHost is h in the form hosts are compared in: lowercased,
// without a trailing dot and without IPv6 brackets.
func NormalizeHost(h string) string {
	h = strings.ToLower(h)
	h = strings.TrimSuffix(h, ".")
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// Rules describes the route's limits, for the body of a 403:
// "paths: /v1/; methods: GET, POST; ports: 443".
func (r *Route) Rules() string {
	var parts []string
	if len(r.Paths) > 0 {
		parts = append(parts, "paths: "+strings.Join(r.Paths, ", "))
	}
	if len(r.Methods) > 0 {
		parts = append(parts, "methods: "+strings.Join(r.Methods, ", "))
	}
	if len(r.Ports) > 0 {
		ports := make([]string, len(r.Ports))
		for i, n := range r.Ports {
			ports[i] = strconv.Itoa(n)
		}
		parts = append(parts, "ports: "+strings.Join(ports, ", "))
	}
	return strings.Join(parts, "; ")
}

// NormalizePrefixes masks each prefix and rewrites IPv4-mapped IPv6 ones
// (::ffff:10.0.0.0/104) as IPv4, the form the proxy compares addresses in
// (peers against --clients, dialled addresses against private:).
func NormalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, pr := range ps {
		if a := pr.Addr(); a.Is4In6() && pr.Bits() >= 96 {
			pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96)
		}
		out = append(out, pr.Masked())
	}
	return out
}

func (rs *Routes) index() {
	rs.exact = make(map[string]*Route, len(rs.Routes))
	rs.suffixes = nil
	for i := range rs.Routes {
		r := &rs.Routes[i]
		if strings.HasPrefix(r.Host, "*.") {
			rs.suffixes = append(rs.suffixes, r)
		} else {
			rs.exact[r.Host] = r
		}
	}
	sort.SliceStable(rs.suffixes, func(i, j int) bool { return len(rs.suffixes[i].Host) > len(rs.suffixes[j].Host) })
}

// hopByHop are the headers a proxy never forwards (RFC 9110 7.6.1).
var hopByHop = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// IsHopByHop reports whether name (canonical, "Keep-Alive") is a header a
// proxy never forwards (RFC 9110 7.6.1): no route can inject one.
func IsHopByHop(name string) bool { return hopByHop[name] }
