package egress

import (
	"os"
	"syscall"
)

// writeState writes a file in the egress's state directory by a fresh
// temporary file renamed over it. The directory is shared with the host
// (and its files may be planted by whoever else writes there), so the
// temporary file is removed first and then created O_EXCL|O_NOFOLLOW: a
// planted symlink at path+".tmp" is never written through.
func writeState(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
