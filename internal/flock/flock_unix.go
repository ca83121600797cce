//go:build unix

// Package flock takes exclusive flock(2) locks without waiting. A flock
// belongs to the open file, not the process: opening and closing the same
// file elsewhere in the process does not drop it (as it would a POSIX record
// lock). It goes when the file is closed, or the process ends.
package flock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Try takes an exclusive lock on f; false when another open file holds one.
func Try(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return false, err
	}
}
