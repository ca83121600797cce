package builtins

// Allowlist family: the allowlist module, the one-host-a-line lists users
// edit. Hosts follow internal/hostname's rules (those of routes). The
// builtins and what they return: `bottle builtins`, from the entries below.

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/hostname"
)

func allowlistBuiltins() []Builtin {
	return module("allowlist", "host allowlists, one host a line",
		def("allowlist.parse", "allowlist.parse(text, name=None) -> list of hosts",
			"one host a line, # comments and blank lines ignored, *.suffix wildcards, lowercased, deduplicated; an invalid host or an IP literal is an error naming its line (as name:line when name is given)", pure, allowlistParse),
		def("allowlist.render", "allowlist.render(hosts) -> text",
			"an allowlist text from a list of hosts, one a line, validated as parse does", pure, allowlistRender),
	)
}

func allowlistParse(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	var file starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "text", &text, "name?", &file); err != nil {
		return nil, err
	}
	fname, err := fileName(name, file)
	if err != nil {
		return nil, err
	}
	hosts, err := parseAllowlist(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, withFile(err, fname))
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
		if strings.TrimSpace(line) == "" {
			continue
		}
		h, err := hostname.Check(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		if !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
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
		h, err := hostname.Check(h)
		if err != nil {
			return nil, fmt.Errorf("%s: hosts[%d]: %v", name, i, err)
		}
		if !seen[h] {
			seen[h] = true
			b.WriteString(h)
			b.WriteByte('\n')
		}
	}
	return starlark.String(b.String()), nil
}
