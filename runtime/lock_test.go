//go:build unix

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/builtins"
)

// freeNow reports whether path's lock can be taken by another open file.
func freeNow(t *testing.T, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// A run holds what lock() took through its rollback, and lets go when it
// is over, failed or not.
func TestLockHeldThroughRollbackReleasedAtEnd(t *testing.T) {
	dir := writeRecipe(t, map[string]string{
		"m":       "{}\n",
		"ok.star": "lock(\"m\")\n",
		"no.star": "lock(\"m\")\nrecord()\nfail(\"stop here\")\n",
	})
	m := filepath.Join(dir, "m")
	if err := Run(context.Background(), Options{Recipe: filepath.Join(dir, "ok.star"), WorkDir: dir}); err != nil {
		t.Fatal(err)
	}
	if !freeNow(t, m) {
		t.Fatal("still locked after a run that succeeded")
	}

	heldInUndo := false
	extra := starlark.StringDict{
		"record": starlark.NewBuiltin("record", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			builtins.EnvOf(thread).Journal.Record("check", func(context.Context) error { heldInUndo = !freeNow(t, m); return nil })
			return starlark.None, nil
		}),
	}
	err := Run(context.Background(), Options{Recipe: filepath.Join(dir, "no.star"), WorkDir: dir, extra: extra})
	if err == nil || !strings.Contains(err.Error(), "stop here") {
		t.Fatalf("Run = %v", err)
	}
	if !heldInUndo {
		t.Error("the lock was gone before the rollback ran")
	}
	if !freeNow(t, m) {
		t.Error("still locked after a run that failed")
	}
}
