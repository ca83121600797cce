//go:build !linux

package flock

import (
	"io/fs"
	"os"
)

// MkdirLocked creates the directory path with exactly perm and returns it
// open and locked (Try), or an error wrapping fs.ErrExist when path exists.
// Outside Linux there is a moment between the mkdir and the lock.
func MkdirLocked(path string, perm fs.FileMode) (*os.File, error) {
	return mkdirThenLock(path, perm)
}
