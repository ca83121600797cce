package builtins

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

//	lock(path, timeout=60) -> None; the run holds an exclusive lock on path
//	until it ends (after any rollback)

func lockBuiltins() []Builtin {
	return []Builtin{
		def("lock", "lock(path, timeout=60)",
			"hold an exclusive lock on an existing file until the run ends (after any rollback); waits up to timeout seconds for another run's", step, lockFile),
	}
}

// lockPoll is how often lock() tries again while another run holds the lock.
const lockPoll = 50 * time.Millisecond

func lockFile(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	timeout := seconds(60 * time.Second)
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p, "timeout?", &timeout); err != nil {
		return nil, err
	}
	path := resolve(env, p)
	if _, held := env.locks[path]; held {
		return starlark.None, nil // this run has it already
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %s does not exist; lock() takes an existing file (it creates nothing)", name, path)
	}
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Duration(timeout))
	said := false
	for {
		ok, err := flock.Try(f)
		if err == nil && ok {
			// The lock is on the file opened; make sure it is still the
			// one at path: the run that held it may have removed it (stop
			// purge=1) or put a new one there (a rolled-back remove).
			var same bool
			if same, err = sameFile(f, path); err == nil && same {
				break
			}
			f.Close()
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s %s: removed by the run that held its lock while this one waited (a stop purge=1?); run this again if it still applies", name, path)
			}
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, path, err)
			}
			if f, err = os.Open(path); err != nil { // replaced: lock the new one
				return nil, fmt.Errorf("%s %s: %w", name, path, err)
			}
			continue
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s %s: %w", name, path, err)
		}
		if !said {
			fmt.Fprintf(stderr(env), "waiting for %s: another bottle run holds its lock (up to %v)\n", path, time.Duration(timeout))
			said = true
		}
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s %s: another bottle run still holds it after %v (a change or stop of the same bottle, or an edit in routes_edit?); let it finish and run this again, or give a longer timeout=", name, path, time.Duration(timeout))
		}
		select {
		case <-env.Ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%s %s: %w", name, path, context.Cause(env.Ctx))
		case <-time.After(lockPoll):
		}
	}
	if env.locks == nil {
		env.locks = map[string]*os.File{}
	}
	env.locks[path] = f
	if env.AtEnd != nil {
		env.AtEnd(func() { f.Close() }) // closing the file releases its flock
	}
	return starlark.None, nil
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
