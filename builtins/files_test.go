package builtins

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/record"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func field(t *testing.T, v starlark.Value, name string) starlark.Value {
	t.Helper()
	s, ok := v.(*starlarkstruct.Struct)
	if !ok {
		t.Fatalf("%v is a %s, want struct", v, v.Type())
	}
	f, err := s.Attr(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWriteInplaceKeepsInode(t *testing.T) {
	r := newRun(t)
	p, link := r.path("routes.yaml"), r.path("link.yaml")
	mustWrite(t, p, "a long first version of the file\n", 0o640)
	if err := os.Link(p, link); err != nil {
		t.Fatal(err)
	}
	before := inode(t, p)
	v := r.eval(t, `x = write_inplace("routes.yaml", "short\n")`)
	if got := mustRead(t, link); got != "short\n" {
		t.Errorf("hard link reads %q, want the new bytes %q (shorter content must truncate)", got, "short\n")
	}
	if inode(t, p) != before {
		t.Error("write_inplace changed the inode")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640 kept", fi.Mode().Perm())
	}
	if got := field(t, v, "inode"); got.String() != starlark.MakeUint64(before).String() {
		t.Errorf("inode field = %v, want %d", got, before)
	}
	if field(t, v, "size").String() != "6" || field(t, v, "changed") != starlark.True {
		t.Errorf("result = %v", v)
	}
	if v := r.eval(t, `x = write_inplace("routes.yaml", "short\n")`); field(t, v, "changed") != starlark.False {
		t.Errorf("same content: changed = %v, want False", field(t, v, "changed"))
	}
	r.journal.rollback(t)
	if got := mustRead(t, link); got != "a long first version of the file\n" {
		t.Errorf("after undo the file holds %q, want the old bytes", got)
	}
	if inode(t, p) != before {
		t.Error("undo changed the inode")
	}
}

func TestWriteInplaceCreatesAndUndoRemoves(t *testing.T) {
	r := newRun(t)
	r.eval(t, `x = write_inplace("new.txt", "hello", mode=0o600)`)
	fi, err := os.Stat(r.path("new.txt"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v, %v; want mode 0600", fi, err)
	}
	r.journal.rollback(t)
	if _, err := os.Stat(r.path("new.txt")); !os.IsNotExist(err) {
		t.Errorf("undo left the created file: %v", err)
	}
}

func TestWriteAtomicNewInode(t *testing.T) {
	r := newRun(t)
	p := r.path("config.json")
	mustWrite(t, p, "old", 0o600)
	before := inode(t, p)
	v := r.eval(t, `x = write_atomic("config.json", "new content")`)
	if mustRead(t, p) != "new content" {
		t.Errorf("content = %q", mustRead(t, p))
	}
	after := inode(t, p)
	if after == before {
		t.Error("write_atomic kept the inode; it must rename a new file into place")
	}
	if field(t, v, "inode").String() != starlark.MakeUint64(after).String() {
		t.Errorf("inode field %v, want %d", field(t, v, "inode"), after)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want the old 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(r.dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
	r.journal.rollback(t)
	if mustRead(t, p) != "old" {
		t.Errorf("after undo: %q, want old", mustRead(t, p))
	}
}

func TestWriteAtomicRefusesBindMountedFile(t *testing.T) {
	r := newRun(t)
	p := r.path("routes.yaml")
	mustWrite(t, p, "routes: []\n", 0o644)
	if err := os.Symlink(p, r.path("alias.yaml")); err != nil {
		t.Fatal(err)
	}
	r.env.Engine = mountEngine{r.env.Engine.(*record.Recorder), []engine.BindMount{
		{Container: "bottle-x-egress-1", Source: p, Destination: "/etc/egress/routes.yaml", IsFile: true},
	}}
	before := snapshot(t, r.dir)
	r.fails(t, `write_atomic("alias.yaml", "routes: [x]\n")`,
		"write_atomic:", "bottle-x-egress-1", "/etc/egress/routes.yaml", "use write_inplace")
	if after := snapshot(t, r.dir); after != before {
		t.Errorf("refused write changed the disk:\n%s\nwant\n%s", after, before)
	}
	// write_inplace does not write through a symlink either (one planted
	// in a state dir must not redirect bottle's writes); the mounted file
	// itself is the way.
	r.fails(t, `write_inplace("alias.yaml", "routes: [x]\n")`, "alias.yaml is a symlink: bottle does not write through one")
	if after := snapshot(t, r.dir); after != before {
		t.Errorf("refused write_inplace changed the disk:\n%s\nwant\n%s", after, before)
	}
	r.eval(t, `x = write_inplace("routes.yaml", "routes: [x]\n")`)
	if mustRead(t, p) != "routes: [x]\n" {
		t.Error("write_inplace did not write the mounted file")
	}
}

func TestFileBuiltinsUndo(t *testing.T) {
	r := newRun(t)
	mustWrite(t, r.path("keep.txt"), "precious\n", 0o640)
	mustWrite(t, r.path("mode.txt"), "m", 0o644)
	before := snapshot(t, r.dir)
	r.eval(t, `
d = mkdir("a/b/c")
write_atomic("a/b/c/f.txt", "x")
removed = remove("keep.txt")
absent = remove("nope.txt")
chmod("mode.txt", 0o600)
x = (d, removed, absent, exists("keep.txt"), exists("a/b/c/f.txt"), read("a/b/c/f.txt"))
`)
	if fi, _ := os.Stat(r.path("a/b")); fi.Mode().Perm() != 0o700 {
		t.Errorf("mkdir default mode: %v, want 0700", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(r.path("mode.txt")); fi.Mode().Perm() != 0o600 {
		t.Errorf("chmod: %v", fi.Mode().Perm())
	}
	r.journal.rollback(t)
	if after := snapshot(t, r.dir); after != before {
		t.Errorf("rollback did not restore the tree:\n%s\nwant\n%s", after, before)
	}
}

func TestFileResultValues(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `
write_inplace("f", "1")
x = [remove("f"), remove("f"), exists("f"), mkdir("d", mode=0o755)]
`)
	want := `[True, False, False, "` + r.path("d") + `"]`
	if v.String() != want {
		t.Errorf("got %s, want %s", v, want)
	}
}

func TestStateDir(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = state_dir("implementer")`)
	want := r.env.StateRoot + "/implementer"
	if v != starlark.String(want) {
		t.Errorf("state_dir = %v, want %s", v, want)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v, want mode 0700", fi, err)
	}
	for _, bad := range []string{"", "Upper", "-lead", "has space", "a/b", "..", strings.Repeat("a", 64)} {
		r.fails(t, `state_dir(`+starlark.String(bad).String()+`)`, "state_dir: invalid slug", "a-z, 0-9 and '-'")
	}
	r.journal.rollback(t)
	if _, err := os.Stat(r.env.StateRoot); !os.IsNotExist(err) {
		t.Errorf("undo left the state root it created: %v", err)
	}
}

func TestDryRunWritesNothingAndPrintsDiff(t *testing.T) {
	r := newRun(t)
	r.env.DryRun = true
	mustWrite(t, r.path("routes.yaml"), "routes:\n  - host: a.com\n", 0o644)
	before := snapshot(t, r.dir)
	v := r.eval(t, `
write_inplace("routes.yaml", "routes:\n  - host: b.com\n")
write_atomic("new.yaml", "fresh\n")
mkdir("dir")
chmod("routes.yaml", 0o600)
remove("routes.yaml")
ca_create("ca")
x = state_dir("dry")
`)
	if after := snapshot(t, r.dir); after != before {
		t.Errorf("dry run changed the disk:\n%s\nwant\n%s", after, before)
	}
	if len(r.journal.steps) != 0 {
		t.Errorf("dry run recorded %d undo steps", len(r.journal.steps))
	}
	out := r.stderr.String()
	for _, want := range []string{
		"dry-run: write_inplace " + r.path("routes.yaml"),
		"-  - host: a.com\n+  - host: b.com\n",
		"--- /dev/null\n+++ " + r.path("new.yaml"),
		"+fresh\n",
		"dry-run: mkdir " + r.path("dir"),
		"dry-run: chmod",
		"dry-run: ca_create",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if v != starlark.String(r.env.StateRoot+"/dry") {
		t.Errorf("state_dir under dry run = %v", v)
	}
}

func TestEffectsRefusedWhileLoading(t *testing.T) {
	r := newRun(t)
	thread := &starlark.Thread{Name: "load"}
	SetEnv(thread, r.env)
	SetLoading(thread, "lib/x.star")
	_, err := starlark.ExecFile(thread, "lib/x.star", `write_inplace("f", "x")`, Predeclared())
	if err == nil || !strings.Contains(err.Error(),
		"write_inplace: side effects are not allowed while loading lib/x.star; call it from a function the recipe runs") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(r.path("f")); !os.IsNotExist(err) {
		t.Error("refused builtin wrote the file")
	}
	// Pure builtins are fine while loading.
	if _, err := starlark.ExecFile(thread, "lib/x.star", `y = yaml.decode("a: 1")`, Predeclared()); err != nil {
		t.Errorf("yaml.decode while loading: %v", err)
	}
}

func TestStateRootAndListDir(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = state_root()`)
	if v != starlark.String(r.env.StateRoot) {
		t.Errorf("state_root() = %v, want %s", v, r.env.StateRoot)
	}
	if _, err := os.Stat(r.env.StateRoot); !os.IsNotExist(err) {
		t.Errorf("state_root() created the state root: %v", err)
	}
	if v := r.eval(t, `x = list_dir(state_root())`); v.String() != "[]" {
		t.Errorf("list_dir of a missing directory = %v, want []", v)
	}
	if err := os.Mkdir(r.path("d"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"zeta", "alpha", "mid"} {
		mustWrite(t, r.path("d/"+n), "", 0o644)
	}
	if err := os.Mkdir(r.path("d/beta"), 0o700); err != nil {
		t.Fatal(err)
	}
	if v := r.eval(t, `x = list_dir("d")`); v.String() != `["alpha", "beta", "mid", "zeta"]` {
		t.Errorf("list_dir = %v", v)
	}
	r.fails(t, `list_dir("d/alpha")`, "list_dir:", "is not a directory")
	r.fails(t, `state_root(1)`, "state_root", "got 1 arguments, want at most 0")
	r.env.StateRoot = ""
	r.fails(t, `state_root()`, "state_root: no state root", "--state DIR")
}

func TestShortenDiff(t *testing.T) {
	lines := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "+%d\n", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		in, want string
	}{
		{"", ""},
		{lines(3), lines(3)},
		{lines(60), lines(60)},
		{lines(60) + "+tail", lines(60) + "... (1 more lines, 5 bytes)\n"},
		{lines(62), lines(60) + "... (2 more lines, 8 bytes)\n"},
	} {
		if got := shortenDiff(tc.in, 60); got != tc.want {
			t.Errorf("shortenDiff(%d lines) =\n%s\nwant\n%s", strings.Count(tc.in, "\n"), got, tc.want)
		}
	}
}

// Rewriting the same bytes would only open a window in which a reader (the
// egress on a stray SIGHUP) sees a truncated file: an unchanged write leaves
// the file alone.
func TestWriteInplaceUnchangedLeavesFileAlone(t *testing.T) {
	r := newRun(t)
	p := r.path("routes.yaml")
	mustWrite(t, p, "routes: []\n", 0o600)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	v := r.eval(t, `x = write_inplace("routes.yaml", "routes: []\n")`)
	if field(t, v, "changed") != starlark.False {
		t.Errorf("changed = %v, want False for the same bytes", field(t, v, "changed"))
	}
	if fi, _ := os.Stat(p); !fi.ModTime().Equal(old) {
		t.Errorf("mtime moved from %v to %v: the file was rewritten", old, fi.ModTime())
	}
}

// chown gives a file to another owner and its undo gives it back; whoami is
// the process's own ids. Changing an owner takes root: without it the test
// checks the refusal.
func TestChownAndWhoami(t *testing.T) {
	r := newRun(t)
	mustWrite(t, r.path("key"), "k", 0o600)
	v := r.eval(t, `x = whoami()`)
	if want := fmt.Sprintf("struct(gid = %d, uid = %d)", os.Getgid(), os.Getuid()); v.String() != want {
		t.Errorf("whoami() = %s, want %s", v, want)
	}
	if os.Getuid() != 0 {
		r.fails(t, `chown("key", 65532, 65532)`, "chown", "operation not permitted")
		return
	}
	r.eval(t, `x = chown("key", 65532, 65533)`)
	if st := ownerOf(t, r.path("key")); st != [2]uint32{65532, 65533} {
		t.Errorf("after chown: owner %v", st)
	}
	r.fails(t, `chown("key", -1, 0)`, "chown", "want ids of 0 or more")
	r.journal.rollback(t)
	if st := ownerOf(t, r.path("key")); st != [2]uint32{0, uint32(os.Getgid())} {
		t.Errorf("after undo: owner %v, want 0:%d", st, os.Getgid())
	}
}

func ownerOf(t *testing.T, path string) [2]uint32 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint32{st.Uid, st.Gid}
}

// read() refuses a FIFO at once instead of blocking: approve and deny read
// files in the egress's directory, where an egress taken over could put one.
// A directory gets its own advice; a symlink to a file is followed.
func TestReadRefusesFIFO(t *testing.T) {
	r := newRun(t)
	if err := syscall.Mkfifo(r.path("requests.json"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.fails(t, `x = read("requests.json")`, "requests.json", "not a regular file")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("read() blocked on a FIFO for 10 s")
	}
	os.Mkdir(r.path("d"), 0o700)
	r.fails(t, `x = read("d")`, "d is a directory")
	os.WriteFile(r.path("f"), []byte("text"), 0o600)
	os.Symlink(r.path("f"), r.path("l"))
	if got := r.eval(t, `x = read("l")`); got != starlark.String("text") {
		t.Errorf("read through a symlink = %v, want \"text\"", got)
	}
}
