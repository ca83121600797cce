//go:build unix

package builtins

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/flock"
)

// holdLock locks path as another bottle run would, until release is called.
func holdLock(t *testing.T, path string) (release func()) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func() { f.Close() }
}

// locked reports whether another open file can take path's lock now.
func locked(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok, err := flock.Try(f)
	if err != nil {
		t.Fatal(err)
	}
	return !ok
}

func TestLockWaitsForAnotherRun(t *testing.T) {
	r := newRun(t)
	var ends []func()
	r.env.AtEnd = func(f func()) { ends = append(ends, f) }
	meta := r.path("metadata.json")
	mustWrite(t, meta, "{}\n", 0o600)

	// Held elsewhere for longer than the timeout: a clear error, and the
	// run waited that long rather than failing at once.
	release := holdLock(t, meta)
	start := time.Now()
	r.fails(t, `lock("metadata.json", timeout = 0.3)`,
		"lock "+meta+": another bottle run still holds it after 300ms", "let it finish and run this again")
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("gave up after %v, before its timeout", took)
	}
	if !strings.Contains(r.stderr.String(), "waiting for "+meta+": another bottle run holds its lock") {
		t.Errorf("stderr: %q", r.stderr.String())
	}

	// Released while waiting: the lock is taken, and held until the run ends.
	time.AfterFunc(100*time.Millisecond, release)
	r.eval(t, `lock("metadata.json", timeout = 10)
x = lock("metadata.json")  # again in the same run: already held
`)
	if !locked(t, meta) {
		t.Fatal("lock() returned but the file is not locked")
	}
	if len(ends) != 1 {
		t.Fatalf("%d release(s) registered, want 1", len(ends))
	}
	ends[0]()
	if locked(t, meta) {
		t.Fatal("still locked after the run ended")
	}
}

func TestLockNeedsAnExistingFile(t *testing.T) {
	r := newRun(t)
	r.fails(t, `lock("gone/metadata.json")`, "does not exist; lock() takes an existing file (it creates nothing)")
	if _, err := os.Stat(r.path("gone")); !os.IsNotExist(err) {
		t.Errorf("lock() made something: %v", err)
	}
}

// The run that held the lock removed the file, or put a new one in its
// place: the waiter must not go on holding a lock on the old file.
func TestLockFollowsTheFileAtPath(t *testing.T) {
	r := newRun(t)
	r.env.AtEnd = func(f func()) { t.Cleanup(f) }
	meta := r.path("metadata.json")
	mustWrite(t, meta, "{}\n", 0o600)

	release := holdLock(t, meta)
	time.AfterFunc(100*time.Millisecond, func() { os.Remove(meta); release() })
	r.fails(t, `lock("metadata.json", timeout = 10)`, "removed by the run that held its lock while this one waited")

	mustWrite(t, meta, "{}\n", 0o600)
	release = holdLock(t, meta)
	time.AfterFunc(100*time.Millisecond, func() {
		os.Remove(meta)
		os.WriteFile(meta, []byte("{\"new\": 1}\n"), 0o600) // a new file, a new inode
		release()
	})
	r.eval(t, `lock("metadata.json", timeout = 10)`)
	if !locked(t, meta) {
		t.Fatal("the lock is on the removed file, not on the one now at the path")
	}
}

// state_dir makes the directory locked and the run holds it to its end: a
// start in progress is told apart from a dead one, and a second run for the
// same slug waits for the first.
func TestStateDirHeldLocked(t *testing.T) {
	r := newRun(t)
	var ends []func()
	r.env.AtEnd = func(f func()) { ends = append(ends, f) }
	dir := r.eval(t, `x = state_dir("impl")`).(starlark.String).GoString()
	if !locked(t, dir) {
		t.Fatal("state_dir returned a directory this run does not hold locked")
	}
	other := newRun(t)
	other.env.StateRoot = r.env.StateRoot
	other.fails(t, `state_dir("impl", timeout = 0.2)`, "state_dir "+dir+": another bottle run still holds it")
	for _, end := range ends {
		end()
	}
	if locked(t, dir) {
		t.Fatal("still locked after the run ended")
	}
	other.eval(t, `x = state_dir("impl", timeout = 0.2)`) // an existing one: locked as found
	if !locked(t, dir) {
		t.Fatal("state_dir of an existing directory does not lock it")
	}
	if len(other.journal.steps) != 0 {
		t.Errorf("an existing state dir got an undo: %v", other.journal.steps)
	}
}
