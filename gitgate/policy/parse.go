package policy

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bottle-sh/bottle/internal/editdist"
	"github.com/bottle-sh/bottle/internal/yamlhint"
)

// ReadFile reads and parses a policy file. Errors carry the file name and
// line: "policy.yaml: line 4: push: ...".
func ReadFile(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

// maxPolicyBytes caps a policy file: it lists a few remotes.
const maxPolicyBytes = 1 << 20

// remoteKeys are the keys of a remote entry, in the order the docs list them.
var remoteKeys = []string{"name", "url", "fetch", "push", "force", "delete", "tags", "max_push", "scan", "token_env"}

var remoteName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Parse parses and validates a policy file. Every problem is reported, each
// as "line N: field: what is wrong", joined into one error.
//
// The host writes the file in place and the gate re-reads it on SIGHUP, so a
// read can see it half written: an empty file and one whose last line has no
// newline are refused (see egress/routes.Parse for the same rule).
func Parse(data []byte) (*Policy, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty (expected a top-level \"remotes:\" list)")
	}
	if len(data) > maxPolicyBytes {
		return nil, fmt.Errorf("file is %d bytes, more than the limit of %d (1 MiB)", len(data), maxPolicyBytes)
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
		return nil, fmt.Errorf("line %d: a policy file holds one YAML document; found a second", extra.Line)
	}
	p := &parser{}
	pol := p.file(&doc)
	if data[len(data)-1] != '\n' {
		p.errorf(bytes.Count(data, []byte("\n"))+1, "file", "does not end with a newline: it may be partly written")
	}
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	return pol, nil
}

type parser struct {
	errs Problems
}

// Problem is one thing wrong in a policy: its line, the field (a key of a
// remote, or "remote", "remotes", "file") and what is wrong.
type Problem struct {
	Line        int
	Field, What string
}

// Problems is what Parse found wrong in a policy that is YAML, each as
// "line N: field: what", joined into one error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.What)
	}
	return Join(lines)
}

// Join is several problems as one message: the one, or "N errors:" and
// each on its own line.
func Join(problems []string) string {
	if len(problems) == 1 {
		return problems[0]
	}
	return fmt.Sprintf("%d errors:\n  %s", len(problems), strings.Join(problems, "\n  "))
}

func (p *parser) errorf(line int, field, format string, args ...any) {
	p.errs = append(p.errs, Problem{line, field, fmt.Sprintf(format, args...)})
}

func (p *parser) err() error {
	return p.errs
}

func (p *parser) file(doc *yaml.Node) *Policy {
	pol := &Policy{}
	top := doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		p.errorf(top.Line, "file", "expected a mapping with a \"remotes:\" list, found %s", kindName(top))
		return pol
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value == "remotes" {
			list = v
			continue
		}
		p.errorf(k.Line, k.Value, "unknown key%s (a policy file has only \"remotes\")", didYouMean(k.Value, []string{"remotes"}))
	}
	if list == nil {
		p.errorf(top.Line, "remotes", "missing (expected a top-level \"remotes:\" list)")
		return pol
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return pol // "remotes:" with nothing: the gate serves no remote
	}
	if list.Kind != yaml.SequenceNode {
		p.errorf(list.Line, "remotes", "expected a list of remotes, found %s", kindName(list))
		return pol
	}
	seen := map[string]int{}
	for _, item := range list.Content {
		r, ok := p.remote(item)
		if !ok {
			continue
		}
		if first, dup := seen[r.Name]; dup {
			p.errorf(r.Line, "name", "%q is already a remote on line %d; names are unique", r.Name, first)
			continue
		}
		seen[r.Name] = r.Line
		pol.Remotes = append(pol.Remotes, r)
	}
	return pol
}

func (p *parser) remote(n *yaml.Node) (*Remote, bool) {
	r := &Remote{Line: n.Line, Fetch: true, Scan: true, MaxPush: DefaultMaxPush}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "remote", "expected a mapping with at least \"name\" and \"url\", found %s", kindName(n))
		return r, false
	}
	before := len(p.errs)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name":
			r.Name = p.name(v)
		case "url":
			r.URL = p.url(v)
		case "fetch":
			r.Fetch = p.boolean(v, "fetch")
		case "push":
			r.Push = p.patterns(v)
		case "force":
			r.Force = p.boolean(v, "force")
		case "delete":
			r.Delete = p.boolean(v, "delete")
		case "tags":
			r.Tags = p.boolean(v, "tags")
		case "max_push":
			r.MaxPush = p.size(v, "max_push")
		case "scan":
			r.Scan = p.boolean(v, "scan")
		case "token_env":
			r.TokenEnv = p.envName(v)
		default:
			p.errorf(k.Line, k.Value, "unknown key%s (a remote has %s)", didYouMean(k.Value, remoteKeys), strings.Join(remoteKeys, ", "))
		}
	}
	if r.Name == "" && len(p.errs) == before {
		p.errorf(n.Line, "name", "missing: every remote has a name (the agent's remote URL ends with it)")
	}
	if r.URL == "" && len(p.errs) == before {
		p.errorf(n.Line, "url", "missing: every remote has the upstream's url")
	}
	if r.TokenEnv != "" && !strings.HasPrefix(r.URL, "https://") && r.URL != "" {
		p.errorf(n.Line, "token_env", "is for https:// remotes; %s is reached over SSH with the gate's key", r.Name)
	}
	return r, len(p.errs) == before
}

func (p *parser) name(v *yaml.Node) string {
	s, ok := p.scalar(v, "name")
	if ok && (!remoteName.MatchString(s) || len(s) > 64) {
		p.errorf(v.Line, "name", "%q is not a remote name (lower-case letters, digits, '.', '_', '-', starting with a letter or digit, at most 64)", s)
		return ""
	}
	// The gate serves /<name>.git/ as <name> and refuses a path holding
	// "..": such a name would reach another remote, or none.
	switch {
	case strings.HasSuffix(s, ".git"):
		p.errorf(v.Line, "name", "%q ends in .git, which the gate takes off the path (it would serve remote %q); name it %q", s, strings.TrimSuffix(s, ".git"), strings.TrimSuffix(s, ".git"))
		return ""
	case strings.Contains(s, ".."):
		p.errorf(v.Line, "name", "%q holds \"..\", which the gate refuses in a path; use one '.'", s)
		return ""
	}
	return s
}

// url accepts scp-like ssh (git@host:path), ssh:// and https:// URLs, and
// refuses credentials inside the URL: a token belongs in token_env.
func (p *parser) url(v *yaml.Node) string {
	s, ok := p.scalar(v, "url")
	if !ok {
		return ""
	}
	if _, err := ParseURL(s); err != nil {
		p.errorf(v.Line, "url", "%v", err)
		return ""
	}
	return s
}

func (p *parser) patterns(v *yaml.Node) []string {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v.Line, "push", "expected a list of ref patterns ([\"refs/heads/agent/*\"]), found %s", kindName(v))
		return nil
	}
	var out []string
	for _, item := range v.Content {
		s, ok := p.scalar(item, "push")
		if !ok {
			continue
		}
		if err := checkPattern(s); err != nil {
			p.errorf(item.Line, "push", "%v", err)
			continue
		}
		out = append(out, s)
	}
	return out
}

func checkPattern(s string) error {
	if !strings.HasPrefix(s, "refs/") {
		return fmt.Errorf("%q is not a ref pattern (it starts with refs/, as in refs/heads/agent/*)", s)
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "" {
			return fmt.Errorf("%q has an empty segment", s)
		}
		if seg != "**" && strings.Contains(seg, "**") {
			return fmt.Errorf("%q: \"**\" stands alone as a segment (refs/heads/**)", s)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("%q: segment %q is not a valid pattern", s, seg)
		}
	}
	return nil
}

func (p *parser) boolean(v *yaml.Node, field string) bool {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		p.errorf(v.Line, field, "expected true or false, found %s", kindName(v))
		return false
	}
	b, _ := strconv.ParseBool(strings.ToLower(v.Value))
	return b
}

var units = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseSize reads a size: a number of bytes, or a number with a unit (KB,
// MB, GB powers of 1000; KiB, MiB, GiB powers of 1024).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	unit, ok := units[strings.ToLower(strings.TrimSpace(t[i:]))]
	if err != nil || !ok || n <= 0 || n > (1<<50)/unit {
		return 0, fmt.Errorf("%q is not a size (a whole number with KiB, MiB, GiB, KB, MB, GB or no unit for bytes, such as 100MiB)", s)
	}
	return n * unit, nil
}

func (p *parser) size(v *yaml.Node, field string) int64 {
	s, ok := p.scalar(v, field)
	if !ok {
		return 0
	}
	n, err := ParseSize(s)
	if err != nil {
		p.errorf(v.Line, field, "%v", err)
	}
	return n
}

func (p *parser) envName(v *yaml.Node) string {
	if v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "") {
		return ""
	}
	s, ok := p.scalar(v, "token_env")
	if !ok {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			p.errorf(v.Line, "token_env", "%q is not an environment variable name", s)
			return ""
		}
	}
	return s
}

func (p *parser) scalar(n *yaml.Node, field string) (string, bool) {
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

func didYouMean(got string, names []string) string {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	if best := editdist.Closest(got, sorted); best != "" {
		return " (did you mean " + best + "?)"
	}
	return ""
}

// URL is a parsed upstream URL.
type URL struct {
	Scheme string // "ssh" or "https"
	User   string // ssh only; "git" when the URL names none
	Host   string // host name, without the port
	Port   string // "" for the scheme's default
	Path   string // the repository's path on the host
}

// ParseURL reads a remote's url: scp-like ssh (git@github.com:acme/app.git),
// ssh://[user@]host[:port]/path or https://host[:port]/path.
func ParseURL(s string) (*URL, error) {
	if strings.ContainsAny(s, " \t\r\n") || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("%q holds spaces or control characters", s)
	}
	if !strings.Contains(s, "://") {
		return parseSCP(s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	switch u.Scheme {
	case "ssh", "https":
	case "http":
		return nil, fmt.Errorf("%q: plain http would send the token in the clear; use https://", s)
	default:
		return nil, fmt.Errorf("%q: scheme %q is not served (use git@host:path, ssh:// or https://)", s, u.Scheme)
	}
	if u.Hostname() == "" || u.Path == "" || u.Path == "/" {
		return nil, fmt.Errorf("%q names no host or no repository path", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q has a query or fragment; a remote URL has neither", s)
	}
	out := &URL{Scheme: u.Scheme, Host: u.Hostname(), Port: u.Port(), Path: u.Path}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword || u.Scheme == "https" {
			return nil, fmt.Errorf("url holds credentials; put the token in the gate's environment and name it in token_env")
		}
		out.User = u.User.Username()
	}
	if out.Scheme == "ssh" && out.User == "" {
		out.User = "git"
	}
	return out, nil
}

func parseSCP(s string) (*URL, error) {
	user, rest := "git", s
	if at := strings.Index(s, "@"); at >= 0 {
		if at > strings.Index(s, ":") {
			return nil, fmt.Errorf("%q is not a remote URL (git@host:path); a URL holds no credentials", s)
		}
		user, rest = s[:at], s[at+1:]
	}
	host, repo, ok := strings.Cut(rest, ":")
	if !ok || host == "" || repo == "" || user == "" || strings.ContainsAny(host, "/[]") {
		return nil, fmt.Errorf("%q is not a remote URL (git@host:path, ssh://host/path or https://host/path)", s)
	}
	return &URL{Scheme: "ssh", User: user, Host: host, Path: repo}, nil
}
