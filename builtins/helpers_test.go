package builtins

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/record"
)

type undoStep struct {
	what string
	undo func(context.Context) error
}

type testJournal struct{ steps []undoStep }

func (j *testJournal) Record(what string, undo func(context.Context) error) {
	j.steps = append(j.steps, undoStep{what, undo})
}

// rollback runs every undo step in reverse, as the runtime does on failure.
func (j *testJournal) rollback(t *testing.T) {
	t.Helper()
	for i := len(j.steps) - 1; i >= 0; i-- {
		if err := j.steps[i].undo(context.Background()); err != nil {
			t.Errorf("undo %q: %v", j.steps[i].what, err)
		}
	}
	j.steps = nil
}

type testProgress struct {
	steps []string
	logs  []string
}

func (p *testProgress) Step(name, detail string, _ time.Duration, err error) {
	s := name + " " + detail
	if err != nil {
		s += " FAILED"
	}
	p.steps = append(p.steps, s)
}
func (p *testProgress) Log(msg string) { p.logs = append(p.logs, msg) }

type testRun struct {
	env      *Env
	journal  *testJournal
	progress *testProgress
	stderr   *bytes.Buffer // dry-run diffs and the recorder's lines
	dir      string        // WorkDir
}

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// newRun makes an Env with the recorder as engine, a temporary WorkDir and a
// state root under it.
func newRun(t testing.TB) *testRun {
	dir := t.TempDir()
	r := &testRun{journal: &testJournal{}, progress: &testProgress{}, stderr: &bytes.Buffer{}, dir: dir}
	rec := record.New(r.stderr)
	rec.SetNow(func() time.Time { return testNow })
	r.env = &Env{
		Ctx:       context.Background(),
		Engine:    rec,
		StateRoot: filepath.Join(dir, "state"),
		WorkDir:   dir,
		Recipe:    "test.star",
		Args:      map[string]string{"name": "x"},
		Journal:   r.journal,
		Progress:  r.progress,
		Stdout:    &bytes.Buffer{},
		Stderr:    r.stderr,
		IsTTY:     func() bool { return false },
		Getenv:    func(k string) (string, bool) { return map[string]string{"HOME": "/home/u"}[k], k == "HOME" },
		Now:       func() time.Time { return testNow },
		AtEnd:     func(f func()) { t.Cleanup(f) }, // the locks a run holds
	}
	return r
}

// exec runs src as a recipe file named test.star and returns its globals.
func (r *testRun) exec(src string) (starlark.StringDict, error) {
	thread := &starlark.Thread{Name: "test"}
	SetEnv(thread, r.env)
	return starlark.ExecFileOptions(&syntax.FileOptions{}, thread, "test.star", src, Predeclared())
}

// eval runs src and returns the global "x".
func (r *testRun) eval(t *testing.T, src string) starlark.Value {
	t.Helper()
	g, err := r.exec(src)
	if err != nil {
		t.Fatalf("%s\n%s", src, errText(err))
	}
	return g["x"]
}

// fails runs src and checks that its error contains every part.
func (r *testRun) fails(t *testing.T, src string, parts ...string) string {
	t.Helper()
	_, err := r.exec(src)
	if err == nil {
		t.Fatalf("%s: no error, want %q", src, parts)
	}
	msg := errText(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s:\nerror %q\nlacks %q", src, msg, p)
		}
	}
	return msg
}

func errText(err error) string {
	if e, ok := err.(*starlark.EvalError); ok {
		return e.Backtrace()
	}
	return err.Error()
}

func (r *testRun) path(name string) string { return filepath.Join(r.dir, name) }

func mustWrite(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snapshot lists every path under dir with its mode and content, so a test
// can show that a failed call changed nothing on disk.
func snapshot(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v", strings.TrimPrefix(p, dir), fi.Mode())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// mountEngine is the recorder with bind mounts.
type mountEngine struct {
	*record.Recorder
	mounts []engine.BindMount
}

func (m mountEngine) BindMounts(context.Context) ([]engine.BindMount, error) { return m.mounts, nil }
