package builtins

import "testing"

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
	r.fails(t, `allowlist.parse("two hosts.com\n")`, `line 1:`, "one host a line")
	r.fails(t, `allowlist.parse("-a.com\n")`, `line 1:`, "starts or ends with '-'")
	r.fails(t, `allowlist.parse("a..com\n")`, `line 1:`, "empty label")
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
