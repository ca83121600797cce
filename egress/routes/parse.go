package routes

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"net/textproto"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bottle-sh/bottle/internal/hostname"
	"github.com/bottle-sh/bottle/internal/yamlhint"
)

// ReadFile reads and parses a routes file. Errors carry the file name.
func ReadFile(path string) (*Routes, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rs, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// maxRoutesBytes caps a routes file, as yaml.decode caps the documents the
// recipes read (builtins/codecs.go). Aliases need no cap: the parser never
// follows one (a route or field given as an alias is an error).
const maxRoutesBytes = 1 << 20

// Parse parses and validates routes.yaml. Every problem is reported,
// each as "line N: field: what is wrong", joined into one error.
//
// The host writes routes.yaml in place, so the proxy can read a file that is
// still being written. An empty file is rejected, and so is one whose last
// line has no newline (every editor and yaml.encode end with one), which
// catches a cut mid-line. A cut exactly at a line end can still parse, as
// fewer routes or as a last route without the paths, methods or inject
// lines that followed it: the parser cannot tell, so the proxy reads the
// file until two reads agree before parsing it (egress.Proxy.Reload).
func Parse(data []byte) (*Routes, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty (expected a top-level \"routes:\" list)")
	}
	if len(data) > maxRoutesBytes {
		return nil, fmt.Errorf("file is %d bytes, more than the limit of %d (1 MiB); a routes file lists hosts, a few KiB", len(data), maxRoutesBytes)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if tab := yamlhint.Tab(string(data), err); tab != nil {
			return nil, tab
		}
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: a routes file holds one YAML document; found a second (remove this \"---\" and what follows, or merge it into the first)", extra.Line)
	}
	p := &routesParser{}
	rs := p.file(&doc)
	if data[len(data)-1] != '\n' {
		lines := bytes.Count(data, []byte("\n")) + 1
		p.errorf(lines, "file", "does not end with a newline: it may be partly written (a routes file ends with a newline)")
	}
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	rs.index()
	return rs, nil
}

type routesParser struct {
	errs []string
}

func (p *routesParser) errorf(line int, field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Sprintf("line %d: %s: %s", line, field, fmt.Sprintf(format, args...)))
}

func (p *routesParser) err() error {
	if len(p.errs) == 1 {
		return errors.New(p.errs[0])
	}
	return fmt.Errorf("%d errors:\n  %s", len(p.errs), strings.Join(p.errs, "\n  "))
}

func (p *routesParser) file(doc *yaml.Node) *Routes {
	rs := &Routes{}
	top := doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		p.errorf(top.Line, "file", "expected a mapping with a \"routes:\" list, found %s", kindName(top))
		return rs
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "routes":
			list = v
		default:
			p.errorf(k.Line, k.Value, "unknown key (a routes file has only \"routes\")")
		}
	}
	if list == nil {
		p.errorf(top.Line, "routes", "missing (expected a top-level \"routes:\" list)")
		return rs
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return rs // "routes:" with nothing: deny everything
	}
	if list.Kind != yaml.SequenceNode {
		p.errorf(list.Line, "routes", "expected a list of routes, found %s", kindName(list))
		return rs
	}
	seen := map[string]int{}
	for _, item := range list.Content {
		r, ok := p.route(item)
		if !ok {
			continue
		}
		if first, dup := seen[r.Host]; dup {
			p.errorf(r.Line, "host", "%q is already routed on line %d; merge the two routes", r.Host, first)
			continue
		}
		seen[r.Host] = r.Line
		rs.Routes = append(rs.Routes, r)
	}
	return rs
}

func (p *routesParser) route(n *yaml.Node) (Route, bool) {
	r := Route{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "route", "expected a mapping with at least \"host\", found %s", kindName(n))
		return r, false
	}
	before := len(p.errs)
	hostSeen := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "host":
			hostSeen = true
			if s, ok := p.scalar(v, "host"); ok {
				h, err := validRouteHost(s)
				if err != nil {
					p.errorf(v.Line, "host", "%v", err)
				}
				r.Host = h
			}
		case "paths":
			for _, item := range p.list(v, "paths") {
				if s, ok := p.scalar(item, "paths"); ok {
					if !strings.HasPrefix(s, "/") {
						p.errorf(item.Line, "paths", "%q must start with \"/\"", s)
					} else if strings.ContainsAny(s, " \t?#") {
						p.errorf(item.Line, "paths", "%q is not a path prefix (no spaces, \"?\" or \"#\")", s)
					}
					r.Paths = append(r.Paths, s)
				}
			}
		case "methods":
			for _, item := range p.list(v, "methods") {
				if s, ok := p.scalar(item, "methods"); ok {
					m := strings.ToUpper(s)
					if !isToken(m) {
						p.errorf(item.Line, "methods", "%q is not an HTTP method", s)
					}
					r.Methods = append(r.Methods, m)
				}
			}
		case "inject":
			r.Inject = p.inject(v)
		case "private":
			r.Private = p.private(v)
		case "ports":
			r.Ports = p.ports(v)
		case "expires":
			r.Expires = p.expires(v)
		case "uses":
			r.Uses = p.uses(v)
		case "grant":
			r.Grant = p.grant(v)
		default:
			p.errorf(k.Line, k.Value, "unknown key (a route has host, paths, methods, inject, private, ports, expires, uses, grant)")
		}
	}
	if !hostSeen {
		p.errorf(n.Line, "host", "missing: every route names a host")
	}
	if r.Inject != nil {
		for _, m := range r.Methods {
			if m == "TRACE" || m == "TRACK" {
				p.errorf(n.Line, "methods", "%s on a route with inject would echo the credential back to the client; it is never sent", m)
			}
		}
	}
	return r, len(p.errs) == before
}

// anyAddress is "private: true": every special-purpose network.
var anyAddress = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// private parses a route's private: true, false, or a list of networks
// (CIDRs, or single addresses).
func (p *routesParser) private(n *yaml.Node) []netip.Prefix {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		if n.Value == "true" || n.Value == "True" || n.Value == "TRUE" {
			return anyAddress
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "private", "expected true, false or a list of networks (10.0.0.0/8, fd00::/8, 192.168.1.5), found %s", kindName(n))
		return nil
	}
	var ps []netip.Prefix
	for _, item := range p.list(n, "private") {
		s, ok := p.scalar(item, "private")
		if !ok {
			continue
		}
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				p.errorf(item.Line, "private", "%q is not a network (10.0.0.0/8) or an address", s)
				continue
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		if pr.Masked() != pr {
			p.errorf(item.Line, "private", "%q has bits set past the prefix length; did you mean %s?", s, pr.Masked())
			continue
		}
		ps = append(ps, NormalizePrefixes([]netip.Prefix{pr})...)
	}
	return ps
}

// ports parses a route's ports: a list of port numbers.
func (p *routesParser) ports(n *yaml.Node) []int {
	var ports []int
	for _, item := range p.list(n, "ports") {
		s, ok := p.scalar(item, "ports")
		if !ok {
			continue
		}
		port, err := strconv.Atoi(s)
		if err != nil || item.Tag != "!!int" || port < 1 || port > 65535 {
			p.errorf(item.Line, "ports", "%q is not a port (a number from 1 to 65535)", s)
			continue
		}
		ports = append(ports, port)
	}
	return ports
}

func (p *routesParser) inject(n *yaml.Node) *Inject {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "inject", "expected a mapping with \"header\" and \"env\", found %s", kindName(n))
		return nil
	}
	in := &Inject{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "header":
			if s, ok := p.scalar(v, "inject.header"); ok {
				if !isToken(s) {
					p.errorf(v.Line, "inject.header", "%q is not a header name", s)
				} else if IsHopByHop(textproto.CanonicalMIMEHeaderKey(s)) || textproto.CanonicalMIMEHeaderKey(s) == "Host" {
					p.errorf(v.Line, "inject.header", "%q cannot be injected (hop-by-hop or Host)", s)
				}
				in.Header = textproto.CanonicalMIMEHeaderKey(s)
			}
		case "env":
			if s, ok := p.scalar(v, "inject.env"); ok {
				if !isEnvName(s) {
					p.errorf(v.Line, "inject.env", "%q is not an environment variable name", s)
				}
				in.Env = s
			}
		default:
			p.errorf(k.Line, "inject."+k.Value, "unknown key (inject has header and env)")
		}
	}
	if in.Header == "" {
		p.errorf(n.Line, "inject.header", "missing: name the header to set")
	}
	if in.Env == "" {
		p.errorf(n.Line, "inject.env", "missing: name the environment variable holding the value")
	}
	return in
}

func (p *routesParser) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n.Line, field, "expected a string, found %s", kindName(n))
		return "", false
	}
	if n.Value == "" {
		p.errorf(n.Line, field, "is empty")
		return "", false
	}
	return n.Value, true
}

func (p *routesParser) list(n *yaml.Node, field string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, field, "expected a list, found %s", kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n.Line, field, "is an empty list; leave it out to allow every %s", strings.TrimSuffix(field, "s"))
	}
	return n.Content
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// validRouteHost lowercases and checks a route's host: an IP literal, or a
// host name or wildcard as internal/hostname (shared with the allowlist)
// accepts them.
func validRouteHost(s string) (string, error) {
	if h := strings.ToLower(s); hostname.IsIP(h) {
		return strings.Trim(h, "[]"), nil
	}
	return hostname.Check(s)
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

func isEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
