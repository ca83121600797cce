package builtins

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = [diff("a\nb\n", "a\nc\n", name="hosts"), diff("same", "same")]`)
	want := `["--- a/hosts\n+++ b/hosts\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n", ""]`
	if v.String() != want {
		t.Errorf("got  %s\nwant %s", v, want)
	}
}

func TestAudit(t *testing.T) {
	r := newRun(t)
	r.eval(t, `
state_dir("impl")
audit("impl", "allowlist_apply", before="a.com\n", after="a.com\nb.com\n")
audit("impl", "routes_apply")
`)
	path := r.env.StateRoot + "/impl/audit.jsonl"
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit.jsonl: %v %v, want mode 0600", fi, err)
	}
	lines := strings.Split(strings.TrimSuffix(mustRead(t, path), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	var e auditEntry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Action != "allowlist_apply" || e.Recipe != "test.star" || e.Args["name"] != "x" ||
		e.Time != "2026-11-26T12:00:00Z" || !strings.Contains(e.Diff, "+b.com\n") {
		t.Errorf("entry = %+v", e)
	}
	r.fails(t, `audit("Bad Slug", "x")`, "audit: invalid slug")
	r.fails(t, `audit("nobottle", "x")`, `audit: bottle "nobottle" has no state directory`, `state_dir("nobottle")`)
}

func TestAuditUndoneWithTheRun(t *testing.T) {
	r := newRun(t)
	r.eval(t, `state_dir("impl")`)
	r.journal.steps = nil // the state dir stays; only the audit line is rolled back
	path := r.env.StateRoot + "/impl/audit.jsonl"
	mustWrite(t, path, "{\"earlier\":1}\n", 0o600)
	r.eval(t, `audit("impl", "x")`)
	r.journal.rollback(t)
	if got := mustRead(t, path); got != "{\"earlier\":1}\n" {
		t.Errorf("after undo: %q", got)
	}
}
