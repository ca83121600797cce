package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// trustedStateRoot refuses a state root another host user could have
// filled, for the commands that act on what its metadata.json files say
// (bottle ls, ui, attach): a bottle's engine there is an ssh host or tcp
// address that bottle connects to with your ssh keys or TLS files. As
// start's state_dir does, it refuses a root owned by someone else or
// writable by group or others; root's own is trusted (sudo setups read it).
func trustedStateRoot(root string) error {
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	const fix = "bottles there are not read; use a state root of your own (--state DIR or BOTTLE_STATE_DIR)"
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() && st.Uid != 0 {
		return fmt.Errorf("state root %s is owned by uid %d, not by uid %d, who runs bottle: its owner could write the metadata.json that says which engine to connect to; %s", root, st.Uid, os.Geteuid(), fix)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state root %s is writable by group or others (mode %#o): they could write the metadata.json that says which engine to connect to; chmod go-w %s, or %s", root, fi.Mode().Perm(), root, fix)
	}
	return nil
}
