package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/engine"
)

// The predecessor's bug: a single-file bind mount pins the source inode. A
// write-temp-then-rename on the host leaves the container reading the old
// bytes; an in-place write (same inode) is seen at once. Checked from inside
// the container with exec: copy_from would read through the host path.
func TestSingleFileBindMountPinsTheInode(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(src, []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctr := runContainer(t, e, "bind", []string{"serve", "/cfg/app.conf"}, src+":/cfg/app.conf:ro")
	if got := catInside(t, e, ctr, "/cfg/app.conf"); got != "v1\n" {
		t.Fatalf("inside: %q, want v1", got)
	}

	// BindMounts reports the mount as a single file of this container.
	mounts, err := e.BindMounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range mounts {
		if m.Container == ctr && m.Source == src && m.Destination == "/cfg/app.conf" && m.IsFile {
			found = true
		}
	}
	if !found {
		t.Errorf("BindMounts has no single-file mount %s -> /cfg/app.conf of %s: %+v", src, ctr, mounts)
	}

	// In place: same inode, seen at once, by exec and by PID 1 on SIGHUP.
	inode := inodeOf(t, src)
	writeInPlace(t, src, "v2 in place\n")
	if inodeOf(t, src) != inode {
		t.Fatal("in-place write changed the inode")
	}
	if got := catInside(t, e, ctr, "/cfg/app.conf"); got != "v2 in place\n" {
		t.Errorf("after the in-place write the container reads %q", got)
	}
	since, err := e.Signal(ctx, ctr, "HUP")
	if err != nil {
		t.Fatal(err)
	}
	line, err := e.WaitLog(ctx, ctr, regexp.MustCompile(`content=`), since, 10*time.Second)
	if err != nil || !strings.Contains(line, `"v2 in place\n"`) {
		t.Errorf("PID 1 after SIGHUP: %q, %v", line, err)
	}

	// Temp then rename: a new inode on the host; the container keeps the old one.
	tmp := src + ".tmp"
	if err := os.WriteFile(tmp, []byte("v3 renamed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, src); err != nil {
		t.Fatal(err)
	}
	if got := catInside(t, e, ctr, "/cfg/app.conf"); got != "v2 in place\n" {
		t.Errorf("after rename-over the container reads %q; the bug is not reproduced (want the stale %q)", got, "v2 in place\n")
	}
	// copy_from goes through the daemon's view of the path and can hide this.
	if b, err := e.CopyFrom(ctx, ctr, "/cfg/app.conf"); err == nil {
		t.Logf("copy_from after rename-over reads %q (exec inside reads the stale bytes)", b)
	}
	// A restart re-resolves the path.
	if _, err := e.Restart(ctx, ctr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := catInside(t, e, ctr, "/cfg/app.conf"); got != "v3 renamed\n" {
		t.Errorf("after restart the container reads %q", got)
	}
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func writeInPlace(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSignalWaitLogRestart(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	ctr := runContainer(t, e, "sig", []string{"serve"})
	if _, err := e.WaitLog(ctx, ctr, regexp.MustCompile(`ready`), time.Unix(0, 0), 10*time.Second); err != nil {
		t.Fatal(err)
	}

	since, err := e.Signal(ctx, ctr, "SIGHUP")
	if err != nil {
		t.Fatal(err)
	}
	line, err := e.WaitLog(ctx, ctr, regexp.MustCompile(`SIGHUP received`), since, 10*time.Second)
	if err != nil || line != "reader: SIGHUP received" {
		t.Fatalf("WaitLog = %q, %v", line, err)
	}

	// Lines before since do not count: a second wait from now times out,
	// and the error quotes what it saw.
	_, err = e.WaitLog(ctx, ctr, regexp.MustCompile(`SIGHUP received`), time.Now(), 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no matching line within 500ms") || !errors.Is(err, engine.ErrNoLine) {
		t.Errorf("timeout error = %v (want one wrapping engine.ErrNoLine, for wait_log's default)", err)
	}
	_, err = e.WaitLog(ctx, ctr, regexp.MustCompile(`never printed`), time.Unix(0, 0), 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "reader: SIGHUP received") || !strings.Contains(err.Error(), ctr) {
		t.Errorf("timeout error does not quote the last lines: %v", err)
	}

	// Cancellation ends the wait promptly.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = e.WaitLog(cctx, ctr, regexp.MustCompile(`never printed`), time.Now(), time.Minute)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Errorf("cancelled wait: %v after %s", err, time.Since(start))
	}

	// Restart: the container runs again with a later StartedAt, and the
	// time Restart returns is from before it began, so a wait_log since it
	// sees the "ready" line PID 1 prints as soon as it starts (during the
	// restart call): the natural recipe, wait_log(c, "ready", since=restart(c)).
	before, err := e.Inspect(ctx, ctr)
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := e.Restart(ctx, ctr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after, err := e.Inspect(ctx, ctr)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Running || !after.StartedAt.After(before.StartedAt) || restarted.After(after.StartedAt) {
		t.Errorf("restart: running=%v started %v -> %v, returned %v (want at or before the start)", after.Running, before.StartedAt, after.StartedAt, restarted)
	}

	// SIGTERM reaches PID 1, which exits; wait_log then reports the stop.
	// (Once PID 1 says ready: before it handles SIGTERM, Go's default exits
	// silently.)
	if _, err := e.WaitLog(ctx, ctr, regexp.MustCompile(`ready`), restarted, 5*time.Second); err != nil {
		t.Fatalf("wait_log since restart(): %v", err)
	}
	since, err = e.Signal(ctx, ctr, "TERM")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.WaitLog(ctx, ctr, regexp.MustCompile(`SIGTERM|terminated`), since, 10*time.Second); err != nil {
		t.Errorf("after TERM: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	_, err = e.WaitLog(ctx, ctr, regexp.MustCompile(`never printed`), time.Now(), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("wait on a stopped container: %v", err)
	}
}

func TestExecCopyFromInspect(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	ctr := runContainer(t, e, "exec", []string{"serve"})

	r, err := e.Exec(ctx, ctr, []string{"/reader", "exit", "3"})
	if err != nil || r.Code != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
		t.Errorf("exec = %+v, %v", r, err)
	}
	r, err = e.Exec(ctx, ctr, []string{"/no/such/binary"})
	if err == nil && r.Code == 0 {
		t.Errorf("exec of a missing binary succeeded: %+v", r)
	}

	b, err := e.CopyFrom(ctx, ctr, "/etc/motd")
	if err != nil || string(b) != "hello from the image\n" {
		t.Errorf("copy_from = %q, %v", b, err)
	}
	_, err = e.CopyFrom(ctx, ctr, "/etc")
	if err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("copy_from a directory: %v", err)
	}
	_, err = e.CopyFrom(ctx, ctr, "/etc/nope")
	if !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), "/etc/nope") || !strings.Contains(err.Error(), ctr) {
		t.Errorf("copy_from a missing file: %v", err)
	}

	c, err := e.Inspect(ctx, ctr)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != ctr || !c.Running || c.Status != "running" || c.Image != testImage || c.StartedAt.IsZero() ||
		c.Labels[engine.InstanceLabel] != testRun || c.Networks["bridge"] == "" {
		t.Errorf("inspect = %+v", c)
	}
	list, err := e.Containers(ctx, map[string]string{engine.InstanceLabel: testRun})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, l := range list {
		seen = seen || l.Name == ctr
	}
	if !seen {
		t.Errorf("Containers(label) misses %s: %+v", ctr, list)
	}

	if ok, err := e.ContainerRemove(ctx, ctr); !ok || err != nil {
		t.Errorf("remove = %v, %v", ok, err)
	}
	if ok, err := e.ContainerRemove(ctx, ctr); ok || err != nil {
		t.Errorf("remove again = %v, %v; want false, nil", ok, err)
	}
}

// Unknown objects: each error names the step and the object and wraps ErrNotFound.
func TestUnknownObjects(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	ghost := testRun + "-ghost"
	checks := map[string]func() error{
		"inspect":   func() error { _, err := e.Inspect(ctx, ghost); return err },
		"signal":    func() error { _, err := e.Signal(ctx, ghost, "HUP"); return err },
		"restart":   func() error { _, err := e.Restart(ctx, ghost, time.Second); return err },
		"exec":      func() error { _, err := e.Exec(ctx, ghost, []string{"/reader"}); return err },
		"copy_from": func() error { _, err := e.CopyFrom(ctx, ghost, "/etc/motd"); return err },
		"wait_log": func() error {
			_, err := e.WaitLog(ctx, ghost, regexp.MustCompile("x"), time.Now(), time.Second)
			return err
		},
	}
	for step, f := range checks {
		err := f()
		if !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), ghost) || !strings.HasPrefix(err.Error(), step) {
			t.Errorf("%s: %v", step, err)
		}
	}
}

func TestExecInteractive(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	ctr := runContainer(t, e, "attach", []string{"serve"})

	// Without a TTY: stdin reaches the command, stdout and stderr stay apart.
	var out, errb strings.Builder
	code, err := e.ExecInteractive(ctx, ctr, []string{"/reader", "cat", "/dev/stdin"}, engine.ExecIO{
		Stdin: strings.NewReader("typed at the terminal\n"), Stdout: &out, Stderr: &errb,
	})
	if err != nil || code != 0 || out.String() != "typed at the terminal\n" {
		t.Errorf("no TTY: code %d, out %q, err %v (stderr %q)", code, out.String(), err, errb.String())
	}

	// With a TTY: one stream; the exit code comes back.
	out.Reset()
	resize := make(chan [2]uint, 1)
	resize <- [2]uint{40, 120}
	code, err = e.ExecInteractive(ctx, ctr, []string{"/reader", "exit", "4"}, engine.ExecIO{
		Stdin: strings.NewReader(""), Stdout: &out, TTY: true, Resize: resize,
	})
	if err != nil || code != 4 || !strings.Contains(out.String(), "out") || !strings.Contains(out.String(), "err") {
		t.Errorf("TTY: code %d, out %q, err %v", code, out.String(), err)
	}
}
