package builtins

import (
	"strings"
	"testing"
)

// TestBadInputChangesNothing runs a corpus of mistakes a recipe author makes.
// Each must fail with an error naming the recipe file and line, the builtin
// and the fix, and leave the disk as it was.
func TestBadInputChangesNothing(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"malformed YAML", "x = 1\ny = yaml.decode(read(\"bad.yaml\"))\nwrite_inplace(\"out\", \"x\")",
			[]string{"test.star:2:", "yaml.decode: line 3:", "quote a value"}},
		{"invalid host", "\n\nh = allowlist.parse(\"ok.com\\nexa mple.com\\n\")\nwrite_inplace(\"out\", \"x\")",
			[]string{"test.star:3:", "allowlist.parse: line 2:", `"exa mple.com"`}},
		{"misspelled keyword", "write_inplace(\"out\", \"x\", mdoe=0o600)",
			[]string{"test.star:1:", "write_inplace: unexpected keyword argument \"mdoe\" (did you mean mode?)"}},
		{"misspelled keyword, second form", "exec(\"c\", \"true\", chek=False)",
			[]string{"exec: unexpected keyword argument \"chek\" (did you mean check?)"}},
		{"unknown keyword", "network_create(\"n\", color=\"red\")",
			[]string{"test.star:1:", "network_create: unexpected keyword argument \"color\"; usage: network_create(name, internal=False, subnet=None, labels=None)"}},
		{"positional for keyword-less", "read(\"a\", \"b\")",
			[]string{"read: got 2 arguments, want at most 1; usage: read(path)"}},
		{"wrong type", "write_inplace(\"out\", 42)",
			[]string{"test.star:1:", "write_inplace: for parameter content: got int, want string; usage: write_inplace(path, content, mode=None, secret=False)"}},
		{"wrong mode type", "write_inplace(\"out\", \"x\", mode=\"644\")",
			[]string{"write_inplace: for parameter \"mode\": got string, want an int mode such as 0o644"}},
		{"mode out of range", "mkdir(\"d\", mode=0o17777)",
			[]string{"mkdir: for parameter \"mode\": mode 8191 out of range"}},
		{"bad slug", "\nstate_dir(\"My Bottle\")",
			[]string{"test.star:2:", `state_dir: invalid slug "My Bottle"`, "a-z, 0-9 and '-'"}},
		{"missing argument", "compose_up(\"p\", {})",
			[]string{"compose_up: missing argument for dir; usage: compose_up(project, spec, dir)"}},
		{"labels not strings", "network_create(\"n\", labels={\"a\": 1})",
			[]string{"network_create: for parameter \"labels\": label \"a\": int, want string to string"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRun(t)
			mustWrite(t, r.path("bad.yaml"), "routes:\n  - host: a.com\n    paths: /v1/: x\n", 0o644)
			before := snapshot(t, r.dir)
			r.fails(t, c.src, c.want...)
			if after := snapshot(t, r.dir); after != before {
				t.Errorf("the disk changed:\n%s\nwant\n%s", after, before)
			}
			if len(r.journal.steps) != 0 {
				t.Errorf("journal has %d steps", len(r.journal.steps))
			}
			if strings.Contains(r.stderr.String(), "dry-run: create") {
				t.Errorf("engine was called: %s", r.stderr.String())
			}
		})
	}
}
