// Package sidecarfile opens the files a bottle's sidecars write in its state
// dir (the egress's decision log, requests and use counts; the git gate's
// log) for the host-side readers: bottle logs, requests, the UI. Those
// directories are written by processes that parse what the agent sends; one
// taken over that way could put a FIFO there, whose open blocks (the reader
// hangs), or a symlink to a host file the operator (or root) may read. Open
// follows no symlink, does not block, and takes a regular file alone.
package sidecarfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Open opens name for reading if it is a regular file and not a symlink.
func Open(name string) (*os.File, error) {
	fh, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink, which bottle does not read through here (only the bottle's sidecar writes there): remove it", name)
	}
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%v; only the bottle's sidecar writes there): remove it", name, st.Mode().Type())
	}
	if err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// ReadFile reads name as Open takes it, refusing one of more than max bytes.
func ReadFile(name string, max int64) ([]byte, error) {
	fh, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes, more than bottle wrote there: move it away", name, max)
	}
	return data, nil
}
