package builtins

// Allowlist family: the allowlist module.
//
//	allowlist.parse(text) -> sorted-as-given list of hosts: one host a line,
//	    "#" comments (whole-line or trailing) and blank lines ignored, "*.suffix"
//	    wildcards, lowercased, deduplicated; an invalid host is an error naming
//	    its line and the host
//	allowlist.render(hosts) -> text, one host a line, validated the same way

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

func allowlistBuiltins() []Builtin {
	return module("allowlist", "host allowlists, one host a line",
		def("allowlist.parse", "allowlist.parse(text)", "hosts of an allowlist text; an invalid host is an error naming its line", pure, allowlistParse),
		def("allowlist.render", "allowlist.render(hosts)", "an allowlist text from a list of hosts, one a line", pure, allowlistRender),
	)
}

func allowlistParse(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	if err := starlark.UnpackArgs(name, args, kwargs, "text", &text); err != nil {
		return nil, err
	}
	hosts, err := parseAllowlist(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make([]starlark.Value, len(hosts))
	for i, h := range hosts {
		out[i] = starlark.String(h)
	}
	return starlark.NewList(out), nil
}

func parseAllowlist(text string) ([]string, error) {
	var hosts []string
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		h := strings.ToLower(strings.TrimSpace(line))
		if h == "" {
			continue
		}
		if err := checkHost(h); err != nil {
			return nil, fmt.Errorf("line %d: %q %v", i+1, strings.TrimSpace(line), err)
		}
		if !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// checkHost accepts a DNS name or "*." followed by one; the error completes
// the sentence `"host" ...`.
func checkHost(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return fmt.Errorf("is not a valid host: a wildcard is allowed only as a leading \"*.\" (e.g. *.example.com)")
	}
	if strings.ContainsAny(name, " \t") {
		return fmt.Errorf("is not a valid host: one host a line, no spaces")
	}
	if len(name) > 253 {
		return fmt.Errorf("is not a valid host: longer than 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" {
			return fmt.Errorf("is not a valid host: empty label (two dots, or a leading dot)")
		}
		if len(label) > 63 {
			return fmt.Errorf("is not a valid host: label %q is longer than 63 characters", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("is not a valid host: label %q starts or ends with '-'", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("is not a valid host: %q is not allowed (letters, digits, '-' and '.' only)", r)
			}
		}
	}
	return nil
}

func allowlistRender(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var hosts starlark.Iterable
	if err := starlark.UnpackArgs(name, args, kwargs, "hosts", &hosts); err != nil {
		return nil, err
	}
	list, err := stringList(hosts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var b strings.Builder
	seen := map[string]bool{}
	for i, h := range list {
		h = strings.ToLower(strings.TrimSpace(h))
		if err := checkHost(h); err != nil {
			return nil, fmt.Errorf("%s: hosts[%d]: %q %v", name, i, h, err)
		}
		if !seen[h] {
			seen[h] = true
			b.WriteString(h)
			b.WriteByte('\n')
		}
	}
	return starlark.String(b.String()), nil
}
