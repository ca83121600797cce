package policy

import (
	"strings"
	"testing"
)

const good = `remotes:
  - name: origin
    url: git@github.com:acme/app.git
    push: ["refs/heads/agent/*", "refs/tags/v*"]
    tags: true
    max_push: 10MiB
  - name: docs
    url: https://example.com/acme/docs.git
    fetch: false
    scan: false
    token_env: DOCS_TOKEN
`

func TestParseGood(t *testing.T) {
	p, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	o := p.Remote("origin")
	if o == nil || !o.Fetch || !o.Scan || o.MaxPush != 10<<20 || !o.Tags || o.Force || o.Delete || o.Line != 2 {
		t.Errorf("origin: %+v", o)
	}
	d := p.Remote("docs")
	if d == nil || d.Fetch || d.Scan || d.MaxPush != DefaultMaxPush || d.TokenEnv != "DOCS_TOKEN" || len(d.Push) != 0 {
		t.Errorf("docs: %+v", d)
	}
	if p.Remote("nope") != nil {
		t.Error("an unknown remote was found")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"", "file is empty"},
		{"remotes:\n  - name: origin\n    url: git@h:a.git\n    pussh: []\n", "line 4: pussh: unknown key (did you mean push?) (a remote has name, url, fetch, push"},
		{"remote:\n", "line 1: remote: unknown key (did you mean remotes?)"},
		{"remotes:\n  - name: Origin\n    url: git@h:a\n", "line 2: name: \"Origin\" is not a remote name"},
		{"remotes:\n  - name: ../x\n    url: git@h:a\n", "line 2: name: \"../x\" is not a remote name"},
		// attack4: the gate serves /<name>.git/ as <name> and refuses a path
		// with "..", so a remote app.git took pushes meant for it to the
		// remote app (its upstream and patterns), and a..b was unreachable.
		{"remotes:\n  - name: app\n    url: git@h:a\n  - name: app.git\n    url: git@h:b\n", "line 4: name: \"app.git\" ends in .git"},
		{"remotes:\n  - name: a..b\n    url: git@h:a\n", "line 2: name: \"a..b\" holds \"..\""},
		{"remotes:\n  - name: o\n    url: http://h/a\n", "line 3: url: \"http://h/a\": plain http"},
		{"remotes:\n  - name: o\n    url: https://me:tok@h/a\n", "line 3: url: url holds credentials"},
		{"remotes:\n  - name: o\n    url: me:tok@h:a\n", "a URL holds no credentials"},
		{"remotes:\n  - name: o\n    url: git@h:a\n    push: [heads/x]\n", "line 4: push: \"heads/x\" is not a ref pattern"},
		{"remotes:\n  - name: o\n    url: git@h:a\n    push: [\"refs/heads/a**\"]\n", "stands alone"},
		{"remotes:\n  - name: o\n    url: git@h:a\n    push: [\"refs/heads/[\"]\n", "is not a valid pattern"},
		{"remotes:\n  - name: o\n    url: git@h:a\n    max_push: 10 parsecs\n", "line 4: max_push: \"10 parsecs\" is not a size"},
		{"remotes:\n  - name: o\n    url: git@h:a\n    force: yes please\n", "line 4: force: expected true or false"},
		{"remotes:\n  - name: o\n    url: git@h:a\n    token_env: T\n", "token_env: is for https:// remotes"},
		{"remotes:\n  - name: o\n    url: git@h:a\n  - name: o\n    url: git@h:b\n", "line 4: name: \"o\" is already a remote on line 2"},
		{"remotes:\n  - url: git@h:a\n", "line 2: name: missing"},
		{"remotes:\n  - name: o\n    url: git@h:a", "does not end with a newline"},
		{"remotes:\n\t- name: o\n", "tabs"},
		{"remotes: []\n---\nx: 1\n", "second"},
	} {
		_, err := Parse([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.file, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"100MiB": 100 << 20, "1GiB": 1 << 30, "5KB": 5000, "512": 512, "2 mib": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "1.5MiB", "MiB", "1TiB", "99999999999999GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, ref string
		want         bool
	}{
		{"refs/heads/agent/*", "refs/heads/agent/x", true},
		{"refs/heads/agent/*", "refs/heads/agent/x/y", false},
		{"refs/heads/agent/*", "refs/heads/agent", false},
		{"refs/heads/agent/*", "refs/heads/main", false},
		{"refs/heads/agent/**", "refs/heads/agent/x/y", true},
		{"refs/heads/agent/**", "refs/heads/agent", true},
		{"refs/**/wip", "refs/heads/a/b/wip", true},
		{"refs/heads/fix-?", "refs/heads/fix-1", true},
		{"refs/heads/main", "refs/heads/main", true},
		{"refs/heads/main", "refs/heads/main2", false},
	} {
		if got := Match(tc.pattern, tc.ref); got != tc.want {
			t.Errorf("Match(%q, %q) = %v", tc.pattern, tc.ref, got)
		}
	}
}

func TestCheckRef(t *testing.T) {
	p, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	o := p.Remote("origin")
	for _, tc := range []struct {
		ref    string
		change Change
		rule   string
	}{
		{"refs/heads/agent/x", Create, ""},
		{"refs/heads/agent/x", FastForward, ""},
		{"refs/heads/agent/x", Rewrite, "force"},
		{"refs/heads/agent/x", Deletion, "delete"},
		{"refs/heads/main", FastForward, "push"},
		{"refs/tags/v1", Create, ""},
		{"refs/heads/agent/../main", Create, "refname"},
		{"refs/heads/agent/a\x1b[2J", Create, "refname"},
		{"refs/heads/agent/x.lock", Create, "refname"},
		{"HEAD", Create, "refname"},
	} {
		r := o.CheckRef(tc.ref, tc.change)
		got := ""
		if r != nil {
			got = r.Rule
			if strings.ContainsRune(r.Reason, 0x1b) {
				t.Errorf("%q: reason holds an escape: %q", tc.ref, r.Reason)
			}
		}
		if got != tc.rule {
			t.Errorf("%q %v: rule %q, want %q (%v)", tc.ref, tc.change, got, tc.rule, r)
		}
	}
	d := p.Remote("docs")
	if r := d.CheckRef("refs/heads/x", Create); r == nil || !strings.Contains(r.Reason, "push list is empty") {
		t.Errorf("docs: %v", r)
	}
	noTags := &Remote{Name: "o", Push: []string{"refs/**"}}
	if r := noTags.CheckRef("refs/tags/v1", Create); r == nil || r.Rule != "tags" {
		t.Errorf("tags: %v", r)
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]URL{
		"git@github.com:acme/app.git":         {"ssh", "git", "github.com", "", "acme/app.git"},
		"github.com:acme/app.git":             {"ssh", "git", "github.com", "", "acme/app.git"},
		"ssh://me@127.0.0.1:2222/srv/app.git": {"ssh", "me", "127.0.0.1", "2222", "/srv/app.git"},
		"https://example.com/a/b.git":         {"https", "", "example.com", "", "/a/b.git"},
	} {
		u, err := ParseURL(in)
		if err != nil || *u != want {
			t.Errorf("%s: %+v %v", in, u, err)
		}
	}
}
