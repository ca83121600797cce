package routes

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Grants that end on their own (expires:, uses:): the proxy enforces them
// (egress/grants.go); here they are parsed.

// expires parses a route's expires: an RFC 3339 time.
func (p *routesParser) expires(n *yaml.Node) time.Time {
	s, ok := p.scalar(n, "expires")
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		p.errorf(n.Line, "expires", "%q is not an RFC 3339 time (2026-12-01T15:04:05Z, or with an offset: +02:00)", s)
		return time.Time{}
	}
	return t
}

// uses parses a route's uses: a count of at least 1.
func (p *routesParser) uses(n *yaml.Node) int {
	s, ok := p.scalar(n, "uses")
	if !ok {
		return 0
	}
	u, err := strconv.Atoi(s)
	if err != nil || n.Tag != "!!int" || u < 1 {
		p.errorf(n.Line, "uses", "%q is not a count of requests (a whole number, at least 1; leave uses out for no limit)", s)
		return 0
	}
	return u
}

// grant parses a route's grant: the id of the approval that wrote it
// (letters, digits, "-", "_", ".", at most 64 bytes).
func (p *routesParser) grant(n *yaml.Node) string {
	s, ok := p.scalar(n, "grant")
	if !ok {
		return ""
	}
	bad := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
	if s == "" || len(s) > 64 || bad >= 0 {
		p.errorf(n.Line, "grant", "%q is not a grant id (letters, digits, -, _ and ., at most 64 bytes; bottle approve writes the request's id)", s)
		return ""
	}
	return s
}
