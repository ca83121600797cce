package builtins

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smallDisk mounts a 64 KiB tmpfs for the test (root only): a disk that
// fills up the way a real one does, ENOSPC part-way through a write. Mode
// 0700: a tmpfs is 1777 by default, which state_dir refuses as a state root.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// fill takes the disk's free space but n bytes, so that the next write of
// more than n fails with ENOSPC part-way.
func fill(t *testing.T, dir string, n int) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	// Free whole pages until n bytes fit (tmpfs counts in pages).
	fi, _ := f.Stat()
	if err := f.Truncate(fi.Size() - int64((n+4095)/4096*4096)); err != nil {
		t.Fatal(err)
	}
}

// A write_inplace that runs out of space leaves the old bytes in place,
// says so, and its undo (the run rolling back) has nothing left to do.
func TestWriteInplaceFullDisk(t *testing.T) {
	disk := smallDisk(t)
	r := newRun(t)
	path := filepath.Join(disk, "routes.yaml")
	old := "routes:\n  - host: a.example.com\n"
	mustWrite(t, path, old, 0o600)
	fill(t, disk, 4096)
	big := "routes:\n" + strings.Repeat("  - host: b.example.com\n", 2000) // ~48 KiB
	mustWrite(t, r.path("big.yaml"), big, 0o600)
	msg := r.fails(t, `write_inplace("`+path+`", read("big.yaml"))`, "no space left on device", "the old content is back in place")
	if got := mustRead(t, path); got != old {
		t.Fatalf("after ENOSPC routes.yaml holds %d bytes (%.40q...), want the old %d bytes; error: %s", len(got), got, len(old), msg)
	}
	if len(r.journal.steps) != 1 {
		t.Fatalf("journal has %d steps, want the restore recorded before the write", len(r.journal.steps))
	}
	r.journal.rollback(t) // t.Errorf on "rollback incomplete"
	if got := mustRead(t, path); got != old {
		t.Errorf("after rollback: %q", got)
	}
}

// A file write_inplace creates and cannot finish is removed again.
func TestWriteInplaceFullDiskNewFile(t *testing.T) {
	disk := smallDisk(t)
	r := newRun(t)
	fill(t, disk, 4096)
	path := filepath.Join(disk, "new.yaml")
	r.fails(t, `write_inplace("`+path+`", "x" * 40000)`, "no space left on device")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the partial new file is still there (%v)", err)
	}
	r.journal.rollback(t)
}

// An audit line that does not fit is not written at all: audit.jsonl keeps
// its bytes, and the next line starts on a line of its own.
func TestAuditFullDisk(t *testing.T) {
	disk := smallDisk(t)
	r := newRun(t)
	r.env.StateRoot = disk
	r.eval(t, `state_dir("impl")`)
	r.journal.steps = nil
	path := filepath.Join(disk, "impl", "audit.jsonl")
	before := "{\"earlier\":1}\n"
	mustWrite(t, path, before, 0o600)
	fill(t, disk, 4096)
	r.fails(t, `audit("impl", "routes_apply", after="host.example.com\n" * 3000)`, "no space left on device", "nothing was added")
	if got := mustRead(t, path); got != before {
		t.Errorf("audit.jsonl after ENOSPC = %d bytes ending %q, want the %d bytes before", len(got), got[max(0, len(got)-40):], len(before))
	}
	if len(r.journal.steps) != 0 {
		t.Errorf("a failed audit recorded %d undo step(s)", len(r.journal.steps))
	}
}
