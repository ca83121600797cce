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

// An intent goes to audit.jsonl before its change; "done" pairs with it by
// id; a rollback appends "rolled back" rather than removing the intent (the
// change may have been live for a moment), so the log misses nothing.
func TestAuditIntent(t *testing.T) {
	r := newRun(t)
	r.eval(t, `state_dir("impl")`)
	r.journal.steps = nil
	path := r.env.StateRoot + "/impl/audit.jsonl"
	r.eval(t, `
i = audit_intent("impl", "routes_apply", before="a\n", after="a\nb\n")
audit_done("impl", i)
`)
	r.journal.steps = nil // that run succeeded: its journal is dropped
	r.eval(t, `j = audit_intent("impl", "routes_apply", before="a\nb\n", after="a\n")`)
	r.journal.rollback(t) // this one failed
	var got []auditEntry
	for _, line := range strings.Split(strings.TrimSuffix(mustRead(t, path), "\n"), "\n") {
		var e auditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, e)
	}
	phases := []string{"intent", "done", "intent", "rolled back"}
	if len(got) != len(phases) {
		t.Fatalf("%d lines, want %d: %+v", len(got), len(phases), got)
	}
	for i, e := range got {
		if e.Phase != phases[i] || e.Action != "routes_apply" || e.ID == "" {
			t.Errorf("line %d = %+v, want phase %q", i, e, phases[i])
		}
	}
	if got[0].ID != got[1].ID || got[2].ID != got[3].ID || got[0].ID == got[2].ID {
		t.Errorf("ids do not pair intents with outcomes: %s %s %s %s", got[0].ID, got[1].ID, got[2].ID, got[3].ID)
	}
	if !strings.Contains(got[0].Diff, "+b\n") || got[1].Diff != "" {
		t.Errorf("diffs: intent %q, done %q", got[0].Diff, got[1].Diff)
	}
	r.fails(t, `audit_done("impl", "nope")`, `audit_done: no intent "nope" of bottle "impl" in this run`)
}
