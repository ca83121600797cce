package flock

import (
	"errors"
	"io/fs"
	"os"
)

func mkdirThenLock(path string, perm fs.FileMode) (*os.File, error) {
	if err := os.Mkdir(path, perm); err != nil {
		return nil, err
	}
	return lockDir(path, perm)
}

// lockDir sets path's mode to perm and opens and locks it.
func lockDir(path string, perm fs.FileMode) (*os.File, error) {
	if err := os.Chmod(path, perm); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if ok, err := Try(f); !ok || err != nil {
		f.Close()
		if err == nil {
			err = errors.New("locked by another process")
		}
		return nil, err
	}
	return f, nil
}
