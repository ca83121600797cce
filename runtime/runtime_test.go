package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hashicorp/go-multierror"
	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/builtins"
	"github.com/bottle-sh/bottle/engine/record"
)

func TestRollbackRunsEveryUndoInReverse(t *testing.T) {
	var order []string
	j := &undoJournal{}
	step := func(name string, err error) {
		j.Record(name, func(ctx context.Context) error {
			order = append(order, name)
			if _, ok := ctx.Deadline(); !ok {
				t.Errorf("%s: undo context has no deadline", name)
			}
			if ctx.Err() != nil {
				t.Errorf("%s: undo context already done", name)
			}
			return err
		})
	}
	step("first", nil)
	step("fails", errors.New("disk on fire"))
	j.Record("panics", func(context.Context) error { order = append(order, "panics"); panic("oops") })
	j.Record("hangs", func(context.Context) error { order = append(order, "hangs"); select {} })
	step("last", nil)

	var stderr bytes.Buffer
	err := j.rollback(50*time.Millisecond, &progress{stderr: &stderr, stdout: &stderr})
	if got, want := strings.Join(order, " "), "last hangs panics fails first"; got != want {
		t.Errorf("undo order %q; want %q", got, want)
	}
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 3 {
		t.Fatalf("rollback error %v; want the 3 failures", err)
	}
	for _, want := range []string{"undo hangs: gave up after 50ms", "undo panics: panic: oops", "undo fails: disk on fire"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("rollback error lacks %q:\n%v", want, err)
		}
	}
	if j.Len() != 0 {
		t.Errorf("journal keeps %d steps after the rollback", j.Len())
	}
}

// blockBuiltin waits for the run's context, as engine builtins do.
var blockBuiltin = starlark.NewBuiltin("block", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	env := builtins.EnvOf(thread)
	env.Journal.Record("unblock", func(context.Context) error { return nil })
	<-env.Ctx.Done()
	return nil, context.Cause(env.Ctx)
})

func writeRecipe(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// engineBlock waits for the run's context and fails as engine calls do,
// with ctx.Err() ("context deadline exceeded").
var engineBlock = starlark.NewBuiltin("wait_log", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	env := builtins.EnvOf(thread)
	env.Journal.Record("unblock", func(context.Context) error { return nil })
	<-env.Ctx.Done()
	return nil, fmt.Errorf("wait_log \"ready\" in c: %w", env.Ctx.Err())
})

// --timeout 15s says "timed out after 15s", not "context deadline exceeded".
func TestTimeoutSaysSo(t *testing.T) {
	dir := writeRecipe(t, map[string]string{"r.star": "wait_log()\n"})
	var out bytes.Buffer
	err := Run(context.Background(), Options{Recipe: filepath.Join(dir, "r.star"), Timeout: 50 * time.Millisecond,
		Stderr: &out, extra: starlark.StringDict{"wait_log": engineBlock}})
	if ExitCode(err) != 1 {
		t.Fatalf("exit %d, want 1: %v", ExitCode(err), err)
	}
	Report(&out, err, false)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "r.star timed out after 50ms (--timeout); rolled back 1 step(s)") {
		t.Errorf("last line %q", last)
	}
	if strings.Contains(out.String(), "deadline exceeded") {
		t.Errorf("says deadline exceeded:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `wait_log "ready" in c: timed out after 50ms (--timeout)`) {
		t.Errorf("the step does not say it timed out:\n%s", out.String())
	}
	out.Reset()
	Report(&out, err, true)
	if strings.Contains(out.String(), "deadline exceeded") || !strings.Contains(out.String(), "timed out after 50ms") {
		t.Errorf("--json: %s", out.String())
	}
}

func TestCancellationReachesBlockedBuiltin(t *testing.T) {
	dir := writeRecipe(t, map[string]string{"r.star": "block()\n"})
	extra := starlark.StringDict{"block": blockBuiltin}

	// --timeout: exit 1, rolled back.
	var stderr bytes.Buffer
	err := Run(context.Background(), Options{Recipe: filepath.Join(dir, "r.star"), Timeout: 100 * time.Millisecond, Stderr: &stderr, extra: extra})
	var re *RunError
	if !errors.As(err, &re) || re.Interrupted || ExitCode(err) != 1 || re.Undone != 1 {
		t.Fatalf("timeout: %#v (exit %d); want a rolled-back RunError, exit 1", err, ExitCode(err))
	}
	if !strings.Contains(re.Backtrace, "timed out after 100ms (--timeout)") {
		t.Errorf("timeout backtrace:\n%s", re.Backtrace)
	}

	// A signal: exit 130.
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(fmt.Errorf("%w by SIGINT", ErrInterrupted)) })
	err = Run(ctx, Options{Recipe: filepath.Join(dir, "r.star"), Stderr: &stderr, extra: extra})
	if ExitCode(err) != 130 {
		t.Fatalf("interrupted run: %v, exit %d; want 130", err, ExitCode(err))
	}
	if !strings.Contains(stderr.String(), "rolling back 1 step(s): interrupted by SIGINT") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

func TestParseArgs(t *testing.T) {
	got, err := ParseArgs([]string{"name=x", "msg=a=b", "empty="})
	if err != nil || got["name"] != "x" || got["msg"] != "a=b" || got["empty"] != "" {
		t.Errorf("ParseArgs = %v, %v", got, err)
	}
	for _, bad := range []string{"noequals", "=v", "1a=b", "a-b=c", "a b=c"} {
		if _, err := ParseArgs([]string{bad}); ExitCode(err) != 2 {
			t.Errorf("ParseArgs(%q) = %v; want a usage error", bad, err)
		}
	}
}

func TestStateRootPrecedence(t *testing.T) {
	env := map[string]string{"BOTTLE_STATE_DIR": "/b", "XDG_STATE_HOME": "/x", "HOME": "/h"}
	get := func(k string) string { return env[k] }
	for _, tc := range []struct{ flag, drop, want string }{
		{"/f", "", "/f"},
		{"", "", "/b"},
		{"", "BOTTLE_STATE_DIR", "/x/bottle"},
		{"", "XDG_STATE_HOME", "/h/.local/state/bottle"},
	} {
		delete(env, tc.drop)
		got, err := StateRoot(tc.flag, get)
		if err != nil || got != tc.want {
			t.Errorf("StateRoot(%q) without %s = %q, %v; want %q", tc.flag, tc.drop, got, err, tc.want)
		}
	}
	rel, _ := StateRoot("rel/dir", get)
	if !filepath.IsAbs(rel) {
		t.Errorf("StateRoot(rel/dir) = %q; want an absolute path", rel)
	}
}

// A recipe root reached through a symlink is fine; what is confined is the
// real location of each loaded file.
func TestRootBehindSymlink(t *testing.T) {
	dir := writeRecipe(t, map[string]string{
		"real/r.star":     "load(\"lib/a.star\", \"a\")\nload(\"//lib/a.star\", b = \"a\")\n",
		"real/lib/a.star": "a = 1\n",
	})
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "real"), link); err != nil {
		t.Skip(err)
	}
	if err := Check(context.Background(), filepath.Join(link, "r.star")); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBuiltinCall measures one builtin call through the interpreter and
// the registry's wrapper: a recipe calls a builtin b.N times in one run.
// getenv is pure; on_failure is an effect (progress event, journal record).
func BenchmarkBuiltinCall(b *testing.B) {
	for _, tc := range []struct{ name, call string }{
		{"pure", "getenv(\"BOTTLE_BENCH\")"},
		{"effect", "on_failure(f)"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			recipe := filepath.Join(dir, "r.star")
			src := "def f():\n    pass\nfor i in range(int(args[\"n\"])):\n    " + tc.call + "\n"
			os.WriteFile(recipe, []byte(src), 0o644)
			b.ResetTimer()
			err := Run(context.Background(), Options{
				Recipe:   recipe,
				Args:     map[string]string{"n": fmt.Sprint(b.N)},
				MaxSteps: 1 << 62,
				Getenv:   func(string) (string, bool) { return "", false },
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// A panicking builtin is a bug, but the run is still rolled back.
func TestPanicIsRolledBack(t *testing.T) {
	dir := writeRecipe(t, map[string]string{"r.star": "record()\nboom()\n"})
	undone := false
	extra := starlark.StringDict{
		"record": starlark.NewBuiltin("record", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			builtins.EnvOf(thread).Journal.Record("flag", func(context.Context) error { undone = true; return nil })
			return starlark.None, nil
		}),
		"boom": starlark.NewBuiltin("boom", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			panic("kaboom")
		}),
	}
	err := Run(context.Background(), Options{Recipe: filepath.Join(dir, "r.star"), extra: extra})
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "panic: kaboom") || !undone {
		t.Fatalf("Run = %v (exit %d), undone=%v; want a rolled-back failure naming the panic", err, ExitCode(err), undone)
	}
}

// time.now() in a recipe, and in its on_failure steps, reads Options.Now.
func TestTimeNowReadsOptionsNow(t *testing.T) {
	dir := writeRecipe(t, map[string]string{"r.star": `
def undo():
    log("undo", time.now().unix)
on_failure(undo)
log("run", time.now().unix)
fail("stop")
`})
	var stdout bytes.Buffer
	fixed := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	err := Run(context.Background(), Options{
		Recipe: filepath.Join(dir, "r.star"),
		Stdout: &stdout,
		Now:    func() time.Time { return fixed },
	})
	if ExitCode(err) != 1 {
		t.Fatalf("Run = %v; want the recipe's fail()", err)
	}
	want := fmt.Sprintf("run %d\nundo %d\n", fixed.Unix(), fixed.Unix())
	if stdout.String() != want {
		t.Errorf("stdout %q; want %q", stdout.String(), want)
	}
}

// The dialect FileOptions documents is the one recipes get: set(), while,
// top-level control flow and global reassignment work; recursion is refused
// (it would overflow the Go stack before the step limit noticed).
func TestDialect(t *testing.T) {
	dir := writeRecipe(t, map[string]string{
		"ok.star": `
s = set([1, 2, 2])
n = 0
while n < 3:
    n += 1
for i in range(2):
    n = n + i
if n == 4:
    log("dialect", len(s), n)
`,
		"rec.star": `
def f(n):
    return f(n - 1) if n else 0
f(3)
`,
	})
	var stdout bytes.Buffer
	if err := Run(context.Background(), Options{Recipe: filepath.Join(dir, "ok.star"), Stdout: &stdout}); err != nil {
		t.Fatalf("ok.star: %v", err)
	}
	if stdout.String() != "dialect 2 4\n" {
		t.Errorf("ok.star printed %q", stdout.String())
	}
	err := Run(context.Background(), Options{Recipe: filepath.Join(dir, "rec.star")})
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "called recursively") {
		t.Errorf("rec.star: %v (exit %d); want a recursion error", err, ExitCode(err))
	}
}

// BenchmarkDryRun200StepsInProcess is cmd/bottle's BenchmarkDryRun200Steps
// without the process: parse, resolve and run the same 200-step recipe
// against the recorder.
func BenchmarkDryRun200StepsInProcess(b *testing.B) {
	dir := b.TempDir()
	recipe := filepath.Join(dir, "r.star")
	src, err := os.ReadFile("../testdata/bench/200steps.star")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(recipe, src, 0o644); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		err := Run(context.Background(), Options{
			Recipe:    recipe,
			Engine:    record.New(io.Discard),
			DryRun:    true,
			StateRoot: filepath.Join(dir, "state"),
			WorkDir:   dir,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// Under --json the recorder's lines become dry-run events, however the
// writes are split.
func TestDryRunJSON(t *testing.T) {
	var out bytes.Buffer
	w := DryRunJSON(&out)
	for _, part := range []string{"dry-run: create net", "work a\ndry-run: ", "remove b\n"} {
		if _, err := io.WriteString(w, part); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"type":"dry-run","msg":"create network a"}` + "\n" + `{"type":"dry-run","msg":"remove b"}` + "\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// Run with Options.Checked runs the files CheckRecipe compiled, loads
// included, and gives each run its own args; a Checked for another recipe is
// not used.
func TestRunChecked(t *testing.T) {
	dir := writeRecipe(t, map[string]string{
		"main.star":  "load('lib.star', 'greet')\nprint(greet(args['name']))\n",
		"lib.star":   "def greet(n):\n    return 'hello ' + n\n",
		"other.star": "print('other')\n",
	})
	main := filepath.Join(dir, "main.star")
	checked, err := CheckRecipe(context.Background(), main, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The files change after the check: a run of the checked recipe does not
	// read them again.
	if err := os.WriteFile(filepath.Join(dir, "lib.star"), []byte("syntax error("), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		var stdout bytes.Buffer
		err := Run(context.Background(), Options{Recipe: main, Checked: checked, Args: map[string]string{"name": name}, Stdout: &stdout})
		if err != nil || stdout.String() != "hello "+name+"\n" {
			t.Errorf("run with name=%s: %v, printed %q", name, err, stdout.String())
		}
	}
	var stdout bytes.Buffer
	err = Run(context.Background(), Options{Recipe: filepath.Join(dir, "other.star"), Checked: checked, Stdout: &stdout})
	if err != nil || stdout.String() != "other\n" {
		t.Errorf("other.star with main.star's Checked: %v, printed %q", err, stdout.String())
	}
}

// An FSReader resolves load() inside its FS and refuses what is outside.
func TestFSReaderConfined(t *testing.T) {
	r := &FSReader{FS: fstest.MapFS{
		"start.star":      {Data: []byte("load(\"lib/a.star\", \"a\")\n")},
		"lib/a.star":      {Data: []byte("a = 1\n")},
		"examples/x.star": {Data: []byte("")},
	}, Prefix: "embedded:"}
	ctx := context.Background()
	for target, want := range map[string]string{
		"lib/a.star":          "embedded:lib/a.star",
		"//lib/a.star":        "embedded:lib/a.star",
		"./lib/../lib/a.star": "embedded:lib/a.star",
	} {
		if got, err := r.Resolve(ctx, target, "embedded:start.star"); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", target, got, err, want)
		}
	}
	if got, err := r.Resolve(ctx, "../lib/a.star", "embedded:examples/x.star"); err != nil || got != "embedded:lib/a.star" {
		t.Errorf("from examples/: %q, %v", got, err)
	}
	for target, want := range map[string]string{
		"../x.star":     "escapes the recipe root",
		"//../x.star":   "escapes the recipe root",
		"/etc/passwd":   "absolute path",
		"lib":           "is a directory",
		"lib/none.star": "no such file",
	} {
		if _, err := r.Resolve(ctx, target, "embedded:start.star"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%q) = %v; want %q", target, err, want)
		}
	}
	if _, err := r.ReadFile(ctx, "/etc/passwd"); err == nil {
		t.Error("ReadFile read a path outside its prefix")
	}
}

// dry_run is predeclared: True under --dry-run, in the recipe and in what it
// loads, also for a checked recipe run both ways.
func TestDryRunPredeclared(t *testing.T) {
	dir := writeRecipe(t, map[string]string{
		"main.star": "load('lib.star', 'lib_sees')\nprint(dry_run, lib_sees())\n",
		"lib.star":  "def lib_sees():\n    return dry_run\n",
	})
	main := filepath.Join(dir, "main.star")
	checked, err := CheckRecipe(context.Background(), main, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false, true} {
		var stdout bytes.Buffer
		err := Run(context.Background(), Options{Recipe: main, Checked: checked, DryRun: dry,
			Engine: record.New(io.Discard), Stdout: &stdout})
		want := fmt.Sprintf("%s %s\n", starlark.Bool(dry), starlark.Bool(dry))
		if err != nil || stdout.String() != want {
			t.Errorf("DryRun %v: %v, printed %q, want %q", dry, err, stdout.String(), want)
		}
	}
}
