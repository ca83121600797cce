// Package appendlog appends records to log files (audit.jsonl, compose.log)
// so that a record lands whole or not at all: what was there before is never
// touched, and a write that fails part-way (a full disk) is cut back off.
package appendlog

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Append appends data to path (created with perm if absent) in one write,
// fsyncs, and returns the size the file had before. On any failure the file
// is truncated back to that size, so no reader sees a partial record and the
// next one starts where this one would have.
func Append(path string, data []byte, perm os.FileMode) (int64, error) {
	// O_NOFOLLOW: a symlink planted in place of a log must not make bottle
	// (often root) append to the file it points to.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, perm)
	if errors.Is(err, syscall.ELOOP) {
		return 0, fmt.Errorf("append to %s: it is a symlink, which bottle does not write through; remove it", path)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	_, err = f.Write(data) // Go's Write loops until all of data is written or it fails
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if tErr := f.Truncate(size); tErr != nil {
			return 0, fmt.Errorf("append to %s: %w; cutting the partial record off failed too (%v): remove what follows byte %d by hand", path, err, tErr, size)
		}
		return 0, fmt.Errorf("append to %s: %w (nothing was added)", path, err)
	}
	return size, f.Close()
}
