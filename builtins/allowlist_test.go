package builtins

import (
	"fmt"
	"testing"
)

func TestAllowlistParse(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = allowlist.parse("""
# hosts the agent may reach
GitHub.com
api.anthropic.com   # the model
*.githubusercontent.com

github.com
""")`)
	if v.String() != `["github.com", "api.anthropic.com", "*.githubusercontent.com"]` {
		t.Errorf("got %s", v)
	}
}

func TestAllowlistErrorsNameLineAndHost(t *testing.T) {
	r := newRun(t)
	r.fails(t, `allowlist.parse("ok.com\n# c\nbad_host.com\n")`, `allowlist.parse: line 3: "bad_host.com" is not a valid host`)
	r.fails(t, `allowlist.parse("a.com\nfoo.*.com\n")`, `line 2: "foo.*.com"`, `leading "*."`)
	r.fails(t, `allowlist.parse("two hosts.com\n")`, `line 1:`, "no spaces")
	r.fails(t, `allowlist.parse("-a.com\n")`, `line 1:`, "starts or ends with '-'")
	r.fails(t, `allowlist.parse("a..com\n")`, `line 1:`, "empty label")
}

// The allowlist refuses what routes refuse (internal/hostname): IP literals,
// and wildcards over a public suffix.
func TestAllowlistRefusesWhatRoutesRefuse(t *testing.T) {
	r := newRun(t)
	r.fails(t, `allowlist.parse("a.com\n10.0.0.1\n")`, `line 2: "10.0.0.1" is an IP address; name the host`)
	r.fails(t, `allowlist.parse("*.com\n")`, `line 1: "*.com" would match every domain under the public suffix "com"`)
	r.fails(t, `allowlist.parse("\n*.co.uk # uk\n")`, `line 2: "*.co.uk" would match every domain under the public suffix "co.uk"`, "*.example.co.uk")
	r.fails(t, `allowlist.render(["a.com", "*.com"])`, `allowlist.render: hosts[1]: "*.com" would match every domain`)
	for _, text := range []string{"*.com", "*.co.uk", "10.0.0.1"} {
		if text != "10.0.0.1" { // routes take IP literals: the egress routes addresses too
			r.fails(t, fmt.Sprintf("routes_check(%q)", "routes:\n  - host: \""+text+"\"\n"), "line 2: host:", "public suffix")
		}
	}
}

func TestAllowlistRender(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = allowlist.render(["B.com", "a.com", "b.com"])`)
	if v.String() != `"b.com\na.com\n"` {
		t.Errorf("got %s", v)
	}
	r.fails(t, `allowlist.render(["ok.com", "no way"])`, `allowlist.render: hosts[1]: "no way"`)
	v = r.eval(t, `x = allowlist.parse(allowlist.render(["x.io", "*.y.io"]))`)
	if v.String() != `["x.io", "*.y.io"]` {
		t.Errorf("round trip: %s", v)
	}
}
