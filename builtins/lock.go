package builtins

// Lock family: lock, which makes two changes to one bottle run one after the
// other. The builtin and what it returns: `bottle builtins`, from the entry
// below.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/flock"
)

func lockBuiltins() []Builtin {
	return []Builtin{
		def("lock", "lock(path, timeout=60, wait=True) -> bool",
			"hold an exclusive lock (flock) on an existing file or directory until the run ends, after any rollback; waits up to timeout seconds while another run holds it, or with wait=False returns False at once", step, lockFile),
	}
}

func lockFile(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	timeout := seconds(60 * time.Second)
	wait := true
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p, "timeout?", &timeout, "wait?", &wait); err != nil {
		return nil, err
	}
	held, err := takeLock(env, name, resolve(env, p), time.Duration(timeout), wait)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(held), nil
}

// takeLock takes the lock on path for the rest of the run, waiting up to
// timeout for another run's (false, nil at once when !wait).
func takeLock(env *Env, name, path string, timeout time.Duration, wait bool) (bool, error) {
	if _, held := env.locks[path]; held {
		return true, nil // this run has it already
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("%s: %s does not exist; lock() takes an existing file (it creates nothing)", name, path)
	}
	if err != nil {
		return false, err
	}
	stillHeld := errors.New("still held")
	ctx, cancel := context.WithTimeoutCause(env.Ctx, timeout, stillHeld)
	defer cancel()
	waiting := func() {
		fmt.Fprintf(stderr(env), "waiting for %s: another bottle run holds its lock (up to %v)\n", path, timeout)
	}
	acquire := func() (bool, error) {
		if !wait {
			return flock.Try(f)
		}
		return true, flock.Wait(ctx, f, waiting)
	}
	for {
		ok, err := acquire()
		if err == nil && !ok {
			f.Close()
			return false, nil
		}
		if err != nil {
			f.Close()
			if errors.Is(err, stillHeld) {
				return false, fmt.Errorf("%s %s: another bottle run still holds it after %v (a start, change or stop of the same bottle, or an edit in routes_edit?); let it finish and run this again, or give a longer timeout=", name, path, timeout)
			}
			return false, fmt.Errorf("%s %s: %w", name, path, err)
		}
		// The lock is on the file opened; make sure it is still the one at
		// path: the run that held it may have removed it (stop purge=1) or
		// put a new one there (a rolled-back remove).
		var same bool
		if same, err = sameFile(f, path); err == nil && same {
			break
		}
		f.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("%s %s: %w while this one waited (a stop purge=1?); run this again if it still applies", name, path, errLockGone)
		}
		if err != nil {
			return false, fmt.Errorf("%s %s: %w", name, path, err)
		}
		if f, err = os.Open(path); err != nil { // replaced: lock the new one
			return false, fmt.Errorf("%s %s: %w", name, path, err)
		}
		waiting = nil // said once already
	}
	keepLock(env, path, f)
	return true, nil
}

// errLockGone: the run that held the lock removed the file.
var errLockGone = errors.New("removed by the run that held its lock")

// keepLock holds f's lock (on path) until the run ends.
func keepLock(env *Env, path string, f *os.File) {
	if env.locks == nil {
		env.locks = map[string]*os.File{}
	}
	env.locks[path] = f
	if env.AtEnd != nil {
		env.AtEnd(func() { f.Close() }) // closing the file releases its flock
	}
}

// sameFile reports whether f is the file now at path.
func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}
