// Package hostname checks the host names that routes (egress/routes) and
// pipelock allowlists (builtins/allowlist.go) name. It is one validator for
// both, so a host one of them accepts the other does not refuse.
//
// A host is a DNS name of letters, digits and '-' (RFC 1123: no '_', no
// trailing dot), or "*." followed by one: a wildcard for every name under it.
// A wildcard over a public suffix ("*.com", "*.co.uk") would let an agent
// reach any domain anyone can register, so it is refused; the suffixes come
// from the public suffix list (golang.org/x/net/publicsuffix), ICANN section.
// Suffixes in the list's private section (github.io, githubusercontent.com)
// belong to one company, and a wildcard over one is the operator's call.
// IP literals are not names; the caller decides whether it takes them.
package hostname

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// IsIP reports whether s is an IP literal, with or without brackets.
func IsIP(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// Check lowercases s and returns it when it is a host name or a wildcard
// over one. Its errors name s and say what to write instead.
func Check(s string) (string, error) {
	s = strings.TrimSpace(s)
	h := strings.ToLower(s)
	switch {
	case h == "":
		return h, fmt.Errorf("empty host; give a host name such as api.example.com")
	case strings.ContainsAny(h, " \t"):
		return h, fmt.Errorf("%q is not a valid host: it holds a space (one host each, no spaces)", s)
	case strings.Contains(h, "/"):
		return h, fmt.Errorf("%q is a URL; give the host name only (e.g. api.example.com)", s)
	case IsIP(h):
		return h, fmt.Errorf("%q is an IP address; name the host instead (an allowlist and a wildcard hold host names)", s)
	}
	if _, _, err := net.SplitHostPort(h); err == nil {
		return h, fmt.Errorf("%q has a port; give the host only (it matches every port)", s)
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return h, fmt.Errorf("%q: a wildcard is allowed only as a leading \"*.\" (e.g. *.example.com)", s)
	}
	if err := checkName(name); err != nil {
		return h, fmt.Errorf("%q is not a valid host: %v", s, err)
	}
	if name != h {
		if suffix := publicSuffix(name); suffix == name {
			return h, fmt.Errorf("%q would match every domain under the public suffix %q (publicsuffix.org); name a domain under it, e.g. *.example.%s", s, suffix, suffix)
		}
	}
	return h, nil
}

// publicSuffix is the ICANN public suffix of name, or the last label of a
// name under a top-level domain the list does not hold ("internal").
func publicSuffix(name string) string {
	suffix, icann := publicsuffix.PublicSuffix(name)
	if icann || !strings.Contains(suffix, ".") {
		return suffix
	}
	// A private-section suffix (github.io): the ICANN one is its last label(s).
	_, rest, _ := strings.Cut(suffix, ".")
	return publicSuffix(rest)
}

// checkName checks a DNS name without wildcard; the error completes
// "x is not a valid host: ...".
func checkName(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	if strings.HasSuffix(name, ".") {
		return fmt.Errorf("it ends with a dot; drop the trailing dot")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return fmt.Errorf("empty label (two dots, or a leading dot)")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not allowed (letters, digits, '-' and '.' only)", r)
			}
		}
	}
	return nil
}
