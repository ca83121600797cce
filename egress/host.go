package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/bottle-sh/bottle/egress/routes"
)

// targetHost is the host of a request target, for the access log: the
// URL's host of an absolute-form target, a CONNECT target's host, or ""
// when the target does not parse as one (it is then not logged at all).
func targetHost(method, target string) string {
	hostport := target
	if method != http.MethodConnect {
		u, err := url.Parse(target)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" {
			return ""
		}
		hostport = u.Host
	}
	host, _, err := splitHostPort(hostport, "80")
	if err != nil {
		return ""
	}
	return host
}

// authorityOf is the Host header for host:port under scheme: the port
// only when it is not the scheme's default, IPv6 literals in brackets.
func authorityOf(scheme, host, port string) string {
	if (scheme == "http" && port != "80") || (scheme == "https" && port != "443") {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// connMemo remembers, for one client connection, the answers of pure
// functions a keep-alive client asks again with every request: which
// route a host matches in a given routes snapshot (each request still
// loads the snapshot in force when it arrives) and whether two host
// spellings agree.
type connMemo struct {
	rs    *routes.Routes
	host  string
	route *routes.Route

	sameA, sameB, sameDef string // the last pair sameHost accepted
}

func (m *connMemo) match(rs *routes.Routes, host string) *routes.Route {
	if rs != m.rs || host != m.host || rs == nil {
		m.rs, m.host, m.route = rs, host, rs.Match(host)
	}
	return m.route
}

func (m *connMemo) sameHost(a, b, defaultPort string) bool {
	if a == m.sameA && b == m.sameB && defaultPort == m.sameDef && a != "" {
		return true
	}
	if !sameHost(a, b, defaultPort) {
		return false
	}
	m.sameA, m.sameB, m.sameDef = a, b, defaultPort
	return true
}

// splitHostPort splits "host[:port]" and checks the port is a number.
func splitHostPort(hostport, defaultPort string) (host, port string, err error) {
	host, port = hostport, defaultPort
	if strings.LastIndexByte(hostport, ':') > strings.LastIndexByte(hostport, ']') {
		host, port, err = net.SplitHostPort(hostport)
		if err != nil {
			return "", "", fmt.Errorf("bad host %q: %v", hostport, err)
		}
	}
	host = routes.NormalizeHost(host)
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return host, port, fmt.Errorf("bad port %q in %q: a port is a number from 1 to 65535", port, hostport)
	}
	if host == "" {
		return host, port, fmt.Errorf("no host in %q", hostport)
	}
	// Only a host name or an IP literal: what is routed on is what is
	// dialled, so nothing a resolver might read differently ("a..b",
	// "a.b..", which Match would otherwise see as "a.b").
	if !isDNSName(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			return host, port, fmt.Errorf("bad host %q: neither a host name (ASCII letters, digits, \"-\", \"_\" and dots) nor an IP address", host)
		}
	}
	return host, port, nil
}

// sameHost reports whether two host[:port] strings name the same host and
// port, filling in defaultPort.
func sameHost(a, b, defaultPort string) bool {
	ah, ap, err1 := splitHostPort(a, defaultPort)
	bh, bp, err2 := splitHostPort(b, defaultPort)
	return err1 == nil && err2 == nil && ah == bh && ap == bp
}

// ambiguousPath reports paths a prefix rule could be fooled by: dot
// segments that the upstream would resolve (also with ";" parameters, as
// in "..;"), encoded dots and slashes.
func ambiguousPath(p string) bool {
	lower := strings.ToLower(p)
	if strings.Contains(lower, "%2e") || strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(p, "\\") {
		return true
	}
	for _, seg := range strings.Split(strings.ReplaceAll(lower, "%3b", ";"), "/") {
		// "..;x" is ".." to servlet containers, which drop ";" parameters
		// before resolving dot segments.
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isDNSName reports a host name: dot-separated labels of lowercase ASCII
// letters, digits, "-" (not at either end) and "_".
func isDNSName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	start := 0 // of the current label
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			label := s[start:i]
			if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
				return false
			}
			start = i + 1
			continue
		}
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
