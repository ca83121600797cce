package sidecarfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// What a sidecar taken over could leave where its files belong is refused
// at once: a FIFO (whose open would block the reader), a symlink to a host
// file, an oversized file. A regular file reads.
func TestOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "requests.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	link := filepath.Join(dir, "uses.json")
	os.Symlink(secret, link)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 100), 0o600)

	for _, c := range []struct{ name, want string }{
		{fifo, "not a regular file"},
		{link, "is a symlink"},
		{big, "larger than 10 bytes"},
	} {
		data, err := ReadFile(c.name, 10)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("ReadFile(%s) = %q, %v; want an error naming it, %q", c.name, data, err, c.want)
		}
	}
	if data, err := ReadFile(secret, 100); err != nil || string(data) != "host secret" {
		t.Errorf("ReadFile of a regular file = %q, %v", data, err)
	}
}
