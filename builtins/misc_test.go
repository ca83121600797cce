package builtins

import (
	"os"
	"path/filepath"
	"testing"
)

func TestGetenvAndLog(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `
log("hello", 1, [2], None)
x = (getenv("HOME"), getenv("NOPE"), getenv("NOPE", default="d"), struct(a=1).a)
`)
	if v.String() != `("/home/u", None, "d", 1)` {
		t.Errorf("got %s", v)
	}
	if len(r.progress.logs) != 1 || r.progress.logs[0] != "hello 1 [2] None" {
		t.Errorf("log = %q", r.progress.logs)
	}
}

func TestOnFailureRunsInJournalOrder(t *testing.T) {
	r := newRun(t)
	r.eval(t, `
def first():
    write_inplace("order.txt", read("order.txt") + "first\n")
def second():
    log("second undo")
    write_inplace("order.txt", read("order.txt") + "second\n")
write_inplace("order.txt", "")
on_failure(first)
on_failure(second)
`)
	if len(r.journal.steps) != 3 || r.journal.steps[1].what != "on_failure first" {
		t.Fatalf("journal = %v", r.journal.steps)
	}
	// Run the on_failure steps only (the first step would remove the file).
	for i := 2; i >= 1; i-- {
		if err := r.journal.steps[i].undo(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustRead(t, r.path("order.txt")); got != "second\nfirst\n" {
		t.Errorf("on_failure order: %q, want second then first", got)
	}
	if r.progress.logs[0] != "second undo" {
		t.Errorf("log from on_failure: %q", r.progress.logs)
	}
	r.journal.steps = nil
	r.eval(t, `
def broken():
    fail("cleanup broke")
on_failure(broken)
`)
	err := r.journal.steps[0].undo(t.Context())
	if err == nil || err.Error() != "cleanup broke (test.star:3:9)" {
		t.Errorf("failing on_failure: %v, want one line: the message and its file:line:col", err)
	}
}

func TestEditNeedsTTY(t *testing.T) {
	r := newRun(t)
	r.fails(t, `edit("a: 1\n")`, "edit: needs an interactive terminal")
}

func TestEditRunsEditor(t *testing.T) {
	r := newRun(t)
	script := filepath.Join(r.dir, "ed.sh")
	mustWrite(t, script, "#!/bin/sh\ncase \"$1\" in *.yaml) ;; *) exit 9;; esac\nprintf 'b: 2\\n' >> \"$1\"\n", 0o755)
	r.env.IsTTY = func() bool { return true }
	r.env.Getenv = func(k string) (string, bool) {
		if k == "EDITOR" {
			return script, true
		}
		return "", false
	}
	v := r.eval(t, `x = edit("a: 1\n")`)
	if v.String() != `"a: 1\nb: 2\n"` {
		t.Errorf("edited = %s", v)
	}
	mustWrite(t, script, "#!/bin/sh\nexit 4\n", 0o755)
	r.fails(t, `edit("a")`, "edit: editor", "exit status 4", "nothing was changed")
	r.env.Getenv = func(string) (string, bool) { return "", false }
	r.fails(t, `edit("a")`, "neither $VISUAL nor $EDITOR is set")
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "bottle-edit-*"))
	if len(matches) > 0 {
		t.Logf("note: temp files present (maybe from other runs): %v", matches)
	}
}

// sha256 is the hex digest of a string's bytes (UTF-8), what sha256sum prints.
func TestSha256(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = (sha256(""), sha256("abc"), sha256("é"))`)
	want := `("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ` +
		`"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ` +
		`"4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c")`
	if v.String() != want {
		t.Errorf("got %s\nwant %s", v, want)
	}
	r.fails(t, `sha256(1)`, "sha256: for parameter s: got int, want string")
}

// closest gives recipes the hint rule the CLI and the builtins use.
func TestClosest(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = (closest("imag", ["image", "env"]), closest("agnet", {"agent": 1}), closest("zzz", ["image"]))`)
	if v.String() != `("image", "agent", None)` {
		t.Errorf("got %s", v)
	}
}
