package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInterrupt runs bottle as a real process, interrupts it in the middle of
// a recipe, and checks that it rolls back and exits 130.
func TestInterrupt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			keep := filepath.Join(dir, "keep.txt")
			os.WriteFile(keep, []byte("original\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "loop.star"), []byte(
				"write_inplace(\"keep.txt\", \"changed\\n\")\nmkdir(\"made\")\nwhile True:\n    pass\n"), 0o644)

			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			var stderr lockedBuffer
			cmd := &exec.Cmd{
				Path:   self,
				Args:   []string{"bottle", "run", "--max-steps", "1000000000000", "loop.star"},
				Dir:    dir,
				Env:    append(os.Environ(), "BOTTLE_STATE_DIR="+filepath.Join(dir, "state")),
				Stderr: &stderr,
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(stderr.String(), "ok   mkdir made") {
				if time.Now().After(deadline) {
					t.Fatalf("the recipe never reached its loop; stderr:\n%s", stderr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Fatalf("exit: %v; want status %d; stderr:\n%s", err, exitInterrupted, stderr.String())
			}
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
			if want := "rolling back 2 step(s): interrupted by " + name; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
			}
			if b, _ := os.ReadFile(keep); string(b) != "original\n" {
				t.Errorf("keep.txt = %q after the rollback; want the original bytes", b)
			}
			if _, err := os.Stat(filepath.Join(dir, "made")); !os.IsNotExist(err) {
				t.Errorf("made/ still exists after the rollback (%v)", err)
			}
		})
	}
}

// A second interrupt during the rollback is ignored: the undo steps finish
// and bottle still exits 130.
func TestSecondInterruptDuringRollback(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "r.star"), []byte(`
def wait_for_go():
    while not exists("go.txt"):
        pass
    log("undo finished")
on_failure(wait_for_go)
mkdir("made")
while True:
    pass
`), 0o644)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr lockedBuffer
	cmd := &exec.Cmd{
		Path:   self,
		Args:   []string{"bottle", "run", "--max-steps", "1000000000000", "r.star"},
		Dir:    dir,
		Env:    append(os.Environ(), "BOTTLE_STATE_DIR="+filepath.Join(dir, "state")),
		Stdout: &stdout,
		Stderr: &stderr,
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stderr.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("stderr never showed %q:\n%s", s, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("ok   mkdir made")
	cmd.Process.Signal(syscall.SIGINT)
	waitFor("rolling back 2 step(s): interrupted by SIGINT")
	cmd.Process.Signal(syscall.SIGINT)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("bottle exited on the second SIGINT (%v), before its rollback finished:\n%s", err, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	os.WriteFile(filepath.Join(dir, "go.txt"), nil, 0o644)
	err = <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v; want status %d; stderr:\n%s", err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stdout.String(), "undo finished") || !strings.Contains(stderr.String(), "ok   undo on_failure wait_for_go") {
		t.Errorf("the undo step did not finish:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "made")); !os.IsNotExist(err) {
		t.Errorf("made/ still exists after the rollback (%v)", err)
	}
}
