//go:build linux

package flock

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MkdirLocked creates the directory path with exactly perm and returns it
// open and locked (Try), or an error wrapping fs.ErrExist when path exists.
// It is made under a temporary name, locked, and renamed into place
// without replacing anything, so no other process ever sees it unlocked.
func MkdirLocked(path string, perm fs.FileMode) (*os.File, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".new*")
	if err != nil {
		return nil, err
	}
	f, err := lockDir(tmp, perm)
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE); err != nil {
		f.Close()
		os.Remove(tmp)
		if errors.Is(err, unix.EEXIST) {
			return nil, &fs.PathError{Op: "mkdir", Path: path, Err: fs.ErrExist}
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return mkdirThenLock(path, perm) // a filesystem without RENAME_NOREPLACE
		}
		return nil, err
	}
	return f, nil
}
