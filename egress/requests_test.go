package egress

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bottle requests and the UI read the egress's requests.json on the host.
// A FIFO planted there by an egress taken over would hang them: they get an
// error at once instead.
func TestReadRequestsRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, RequestsFile), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadRequests(dir); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadRequests over a FIFO = %v; want 'not a regular file'", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadRequests blocked on a FIFO for 10 s")
	}
}
