//go:build linux

package main

// The fault suite (issue 11): each fault injected on the real daemon, and
// the end state asserted from the engine and the disk. SIGINT at spread
// delays across start, stop and the restart of a stopped bottle; kill -9
// during start, then cleanup; two starts of one name at once; a full disk
// under routes_apply; kill -9 during routes_apply. After each: no
// container or network labelled for the bottle that should not be there,
// routes.yaml and audit.jsonl as they must be, and every host the egress
// lets through accounted for by an audit line.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
)

// faults is one state root and the daemon, for the suite's bottles.
type faults struct {
	t       *testing.T
	dir     string // the working directory of every run (the state root is dir/state)
	root    string
	recipes string
	eng     *docker.Engine
	ctx     context.Context
}

func newFaults(t *testing.T) *faults {
	if testing.Short() {
		t.Skip("the fault suite brings bottles up and down on the daemon (seconds each)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	eng, err := docker.New(ctx)
	if err == nil {
		_, err = eng.Containers(ctx, map[string]string{engine.InstanceLabel: "fault-probe-none"})
	}
	if err != nil {
		if os.Getenv("BOTTLE_REQUIRE_DOCKER") == "1" {
			t.Fatalf("BOTTLE_REQUIRE_DOCKER=1 and no daemon: %v", err)
		}
		t.Skipf("no Docker daemon: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	if _, err := eng.Compose(ctx); err != nil {
		if os.Getenv("BOTTLE_REQUIRE_DOCKER") == "1" {
			t.Fatalf("BOTTLE_REQUIRE_DOCKER=1 and no compose: %v", err)
		}
		t.Skipf("no compose: %v", err)
	}
	recipes, err := filepath.Abs(filepath.Join("..", "..", "recipes"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &faults{t: t, dir: dir, root: filepath.Join(dir, "state"), recipes: recipes, eng: eng, ctx: ctx}
	t.Cleanup(f.sweep)
	return f
}

// slug is a bottle name of this test run's own.
func (f *faults) slug(what string) string {
	return fmt.Sprintf("flt-%s-%d", what, os.Getpid())
}

// command is `bottle ARGS...` as a real process with the suite's state root.
func (f *faults) command(stderr *lockedBuffer, args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := &exec.Cmd{
		Path:   self,
		Args:   append([]string{"bottle"}, args...),
		Dir:    f.dir,
		Env:    append(os.Environ(), "BOTTLE_STATE_DIR="+f.root),
		Stderr: stderr,
	}
	return cmd
}

// run runs a recipe to its end and returns its exit code and output.
func (f *faults) run(recipe string, args ...string) (int, string, string) {
	var stdout, stderr lockedBuffer
	cmd := f.command(&stderr, append([]string{"run", filepath.Join(f.recipes, recipe)}, args...)...)
	cmd.Stdout = &stdout
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	f.t.Fatal(err)
	return -1, "", ""
}

// must runs a recipe that has to succeed.
func (f *faults) must(recipe string, args ...string) string {
	f.t.Helper()
	code, out, errs := f.run(recipe, args...)
	if code != 0 {
		f.t.Fatalf("%s %v: exit %d\n%s\n%s", recipe, args, code, out, errs)
	}
	return out
}

// interrupted starts a recipe, sends sig once stderr shows after (if not
// "") and then delay has passed, and returns the exit code and stderr.
func (f *faults) interrupted(sig syscall.Signal, after string, delay time.Duration, recipe string, args ...string) (int, string) {
	f.t.Helper()
	var stderr lockedBuffer
	cmd := f.command(&stderr, append([]string{"run", filepath.Join(f.recipes, recipe)}, args...)...)
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for after != "" && !strings.Contains(stderr.String(), after) {
		select {
		case err := <-exited:
			return exitCode(f.t, err), stderr.String()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			f.t.Fatalf("%s never printed %q:\n%s", recipe, after, stderr.String())
		}
	}
	select {
	case err := <-exited:
		return exitCode(f.t, err), stderr.String()
	case <-time.After(delay):
	}
	cmd.Process.Signal(sig)
	return exitCode(f.t, <-exited), stderr.String()
}

func exitCode(t *testing.T, err error) int {
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// objects names the containers and networks the daemon holds for slug.
func (f *faults) objects(slug string) []string {
	f.t.Helper()
	sel := map[string]string{engine.InstanceLabel: slug}
	ctrs, err := f.eng.Containers(f.ctx, sel)
	if err != nil {
		f.t.Fatal(err)
	}
	nets, err := f.eng.Networks(f.ctx, sel)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, c := range ctrs {
		out = append(out, "container "+c.Name)
	}
	for _, n := range nets {
		out = append(out, "network "+n.Name+" "+n.ID[:12])
	}
	return out
}

// settled waits a moment for creates the daemon may still finish after
// the client gave up, then lists what is left.
func (f *faults) settled(slug string) []string {
	time.Sleep(time.Second)
	return f.objects(slug)
}

// sweep removes whatever the suite's bottles left, whatever happened.
func (f *faults) sweep() {
	ctx := context.Background()
	sel := map[string]string{engine.StateLabel: ""}
	ctrs, _ := f.eng.Containers(ctx, sel)
	for _, c := range ctrs {
		if strings.HasPrefix(c.Labels[engine.StateLabel], f.root) {
			f.eng.ContainerRemove(ctx, c.ID)
		}
	}
	nets, _ := f.eng.Networks(ctx, sel)
	for _, n := range nets {
		if strings.HasPrefix(n.Labels[engine.StateLabel], f.root) {
			f.eng.NetworkRemove(ctx, n.ID)
		}
	}
}

// spread is n delays spread across d.
func spread(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d * time.Duration(2*i+1) / time.Duration(2*n)
	}
	return out
}

// timed runs a full start and stop of slug once, to know how long a start
// takes on this machine.
func (f *faults) timed(slug string) time.Duration {
	start := time.Now()
	f.must("start.star", "name="+slug)
	took := time.Since(start)
	f.must("stop.star", "slug="+slug, "purge=1")
	return took
}

// SIGINT anywhere in a start of a new bottle: exit 130 (or 0 when the
// start won the race), and after a rollback nothing of it is left.
func TestFaultsInterruptStart(t *testing.T) {
	f := newFaults(t)
	slug := f.slug("int")
	took := f.timed(slug)
	type point struct {
		after string
		delay time.Duration
	}
	var points []point
	for _, d := range spread(took, 6) {
		points = append(points, point{"", d})
	}
	// Around the network creates, where a daemon finishing a create after
	// the client gave up leaked a network.
	for _, d := range []time.Duration{0, 30 * time.Millisecond, 90 * time.Millisecond} {
		points = append(points, point{"ok   bottle_image", d})
	}
	for _, p := range points {
		code, stderr := f.interrupted(syscall.SIGINT, p.after, p.delay, "start.star", "name="+slug)
		if code == 0 {
			f.must("stop.star", "slug="+slug, "purge=1")
			continue
		}
		if code != exitInterrupted {
			t.Fatalf("SIGINT after %q+%v: exit %d, want %d:\n%s", p.after, p.delay, code, exitInterrupted, stderr)
		}
		if left := f.settled(slug); len(left) > 0 {
			t.Fatalf("SIGINT after %q+%v left %v:\n%s", p.after, p.delay, left, stderr)
		}
		if _, err := os.Stat(filepath.Join(f.root, slug)); !os.IsNotExist(err) {
			t.Fatalf("SIGINT after %q+%v left the state dir (%v):\n%s", p.after, p.delay, err, stderr)
		}
	}
}

// SIGINT during a stop: what it stopped stays stopped, a second stop
// finishes the job with nothing left, and compose.log keeps the lines.
func TestFaultsInterruptStop(t *testing.T) {
	f := newFaults(t)
	slug := f.slug("stp")
	for _, d := range []time.Duration{150 * time.Millisecond, 600 * time.Millisecond} {
		f.must("start.star", "name="+slug)
		code, stderr := f.interrupted(syscall.SIGINT, "", d, "stop.star", "slug="+slug)
		if code != 0 && code != exitInterrupted {
			t.Fatalf("stop, SIGINT after %v: exit %d:\n%s", d, code, stderr)
		}
		f.must("stop.star", "slug="+slug)
		if left := f.settled(slug); len(left) > 0 {
			t.Fatalf("stop interrupted after %v, then stopped again: left %v", d, left)
		}
		log, err := os.ReadFile(filepath.Join(f.root, slug, "compose.log"))
		if err != nil || !strings.Contains(string(log), "egress | ") {
			t.Fatalf("compose.log after an interrupted stop: %v\n%s", err, log)
		}
	}
	f.must("stop.star", "slug="+slug, "purge=1")
}

// SIGINT in the restart of a stopped bottle: nothing of the restart is
// left, and the bottle is still stopped with its state (metadata, CA).
func TestFaultsInterruptRestart(t *testing.T) {
	f := newFaults(t)
	slug := f.slug("rst")
	took := f.timed(slug)
	f.must("start.star", "name="+slug)
	f.must("stop.star", "slug="+slug)
	meta := filepath.Join(f.root, slug, "metadata.json")
	ca := filepath.Join(f.root, slug, "ca", "ca.crt")
	before, _ := os.ReadFile(ca)
	for _, d := range spread(took, 4) {
		code, stderr := f.interrupted(syscall.SIGINT, "", d, "start.star", "name="+slug)
		if code == 0 {
			f.must("stop.star", "slug="+slug)
			continue
		}
		if code != exitInterrupted {
			t.Fatalf("restart, SIGINT after %v: exit %d:\n%s", d, code, stderr)
		}
		if left := f.settled(slug); len(left) > 0 {
			t.Fatalf("restart interrupted after %v left %v:\n%s", d, left, stderr)
		}
		var m struct{ Status string }
		b, err := os.ReadFile(meta)
		if err != nil || json.Unmarshal(b, &m) != nil || m.Status != "stopped" {
			t.Fatalf("after an interrupted restart metadata.json = %s (%v); want status stopped", b, err)
		}
		if after, _ := os.ReadFile(ca); string(after) != string(before) {
			t.Fatal("an interrupted restart changed the bottle's CA")
		}
	}
	f.must("stop.star", "slug="+slug, "purge=1")
}

// kill -9 during a start: compose dies with bottle, `bottle ls` shows the
// killed start, cleanup removes everything of it, a second cleanup is a
// no-op, and the name starts again.
func TestFaultsKillStart(t *testing.T) {
	f := newFaults(t)
	slug := f.slug("kil")
	took := f.timed(slug)
	for _, d := range spread(took, 3) {
		code, stderr := f.interrupted(syscall.SIGKILL, "", d, "start.star", "name="+slug)
		if code == 0 {
			f.must("stop.star", "slug="+slug, "purge=1")
			continue
		}
		time.Sleep(100 * time.Millisecond)
		if procs := composeOf("bottle-" + slug); len(procs) > 0 {
			t.Errorf("kill -9 after %v: compose still runs for the bottle: %v", d, procs)
		}
		time.Sleep(time.Second) // what the daemon was making when bottle died
		if _, err := os.Stat(filepath.Join(f.root, slug, "metadata.json")); err == nil {
			f.must("stop.star", "slug="+slug, "purge=1") // killed after it finished
			continue
		}
		if _, err := os.Stat(filepath.Join(f.root, slug)); err == nil {
			var out lockedBuffer
			ls := f.command(&out, "ls")
			ls.Stdout = &out
			ls.Run()
			if !strings.Contains(out.String(), "start killed") {
				t.Errorf("bottle ls after kill -9 at %v does not show the killed start:\n%s", d, out.String())
			}
		}
		out := f.must("cleanup.star")
		if left := f.objects(slug); len(left) > 0 {
			t.Fatalf("kill -9 after %v, then cleanup: left %v\ncleanup said:\n%s\nstart said:\n%s", d, left, out, stderr)
		}
		if _, err := os.Stat(filepath.Join(f.root, slug)); !os.IsNotExist(err) {
			t.Fatalf("kill -9 after %v, then cleanup: the state dir is still there (%v)\n%s", d, err, out)
		}
		if again := f.must("cleanup.star"); !strings.Contains(again, "nothing to clean up") {
			t.Fatalf("second cleanup after kill -9 at %v did something:\n%s", d, again)
		}
		// Nothing goes on making the bottle after bottle died (compose
		// dies with it).
		if left := f.settled(slug); len(left) > 0 {
			t.Fatalf("kill -9 after %v: after cleanup, %v appeared", d, left)
		}
	}
	f.must("start.star", "name="+slug)
	f.must("stop.star", "slug="+slug, "purge=1")
}

// Two starts of one name at once: one wins, the other fails naming it, and
// once the winner stops nothing is left.
func TestFaultsDoubleStart(t *testing.T) {
	f := newFaults(t)
	slug := f.slug("dbl")
	type result struct {
		code   int
		stderr string
	}
	results := make(chan result, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, stderr := f.run("start.star", "name="+slug)
			results <- result{code, stderr}
		}()
	}
	wg.Wait()
	close(results)
	var won, lost []result
	for r := range results {
		if r.code == 0 {
			won = append(won, r)
		} else {
			lost = append(lost, r)
		}
	}
	if len(won) != 1 || len(lost) != 1 {
		t.Fatalf("%d start(s) won, %d lost; want one each: %+v %+v", len(won), len(lost), won, lost)
	}
	if lost[0].code != 1 || !strings.Contains(lost[0].stderr, "is already running (bottle-"+slug) {
		t.Errorf("the losing start: exit %d, does not name the winner:\n%s", lost[0].code, lost[0].stderr)
	}
	f.must("stop.star", "slug="+slug, "purge=1")
	if left := f.settled(slug); len(left) > 0 {
		t.Fatalf("after the winner stopped: left %v", left)
	}
}

// egressAllows says whether the bottle's egress lets a request for host
// through (anything but its 403), asking it as the agent does: from the
// agent container's network namespace, to the egress on the internal
// network.
func (f *faults) egressAllows(slug, host string) bool {
	f.t.Helper()
	service := func(name string) engine.Container {
		ctrs, err := f.eng.Containers(f.ctx, map[string]string{engine.InstanceLabel: slug, engine.ComposeServiceLabel: name})
		if err != nil || len(ctrs) != 1 {
			f.t.Fatalf("%s of %s: %v %v", name, slug, ctrs, err)
		}
		c, err := f.eng.Inspect(f.ctx, ctrs[0].ID)
		if err != nil {
			f.t.Fatal(err)
		}
		return c
	}
	egress, agent := service("egress"), service("agent")
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", agent.ID).Output()
	if err != nil {
		f.t.Fatalf("pid of %s: %v", agent.Name, err)
	}
	addr := net.JoinHostPort(egress.Networks["bottle-"+slug+"-int"], "3128")
	conn, err := dialFrom(strings.TrimSpace(string(out)), addr)
	if err != nil {
		f.t.Fatalf("egress of %s at %s, from the agent: %v", slug, addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET http://%s/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host, host)
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		f.t.Fatalf("egress of %s: %v", slug, err)
	}
	return !strings.Contains(status, " 403 ")
}

// dialFrom connects to addr from the network namespace of process pid: the
// socket is made on a thread moved into that namespace, which is never
// unlocked, so it ends with its goroutine and nothing else runs there.
func dialFrom(pid, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		ns, err := os.Open("/proc/" + pid + "/ns/net")
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{nil, err}
			return
		}
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// auditLines reads audit.jsonl; every line must be whole JSON.
func (f *faults) auditLines(slug string) []map[string]any {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, slug, "audit.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	var out []map[string]any
	for i, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if !strings.HasSuffix(line, "\n") || json.Unmarshal([]byte(line), &m) != nil {
			f.t.Fatalf("audit.jsonl line %d is not a whole JSON line: %q", i+1, line)
		}
		out = append(out, m)
	}
	return out
}

// audited says whether audit.jsonl has a line (an intent, or a plain
// audit line) adding a route for host.
func audited(lines []map[string]any, host string) bool {
	for _, l := range lines {
		if (l["phase"] == "intent" || l["phase"] == nil) && strings.Contains(fmt.Sprint(l["diff"]), "+  - host: "+host+"\n") {
			return true
		}
	}
	return false
}

// kill -9 during routes_apply, at spread delays: whatever the egress serves
// has an intent line in audit.jsonl, and every line is whole.
func TestFaultsKillRoutesApply(t *testing.T) {
	f := newFaults(t)
	slug := f.slug("rte")
	f.must("start.star", "name="+slug)
	defer f.must("stop.star", "slug="+slug, "purge=1")
	begin := time.Now()
	f.must("routes_apply.star", "slug="+slug, "add=warm.example.test")
	took := time.Since(begin)
	served := 0
	for i, d := range spread(took, 8) {
		host := fmt.Sprintf("kill%d.example.test", i)
		f.interrupted(syscall.SIGKILL, "", d, "routes_apply.star", "slug="+slug, "add="+host)
		if f.egressAllows(slug, host) {
			served++
		}
		// The next run reloads whatever routes.yaml holds, as any later
		// change would.
		next := fmt.Sprintf("next%d.example.test", i)
		f.must("routes_apply.star", "slug="+slug, "add="+next)
		lines := f.auditLines(slug)
		for _, h := range []string{host, next} {
			if f.egressAllows(slug, h) && !audited(lines, h) {
				t.Fatalf("kill -9 after %v: the egress serves %s, and audit.jsonl has no intent for it:\n%v", d, h, lines)
			}
		}
	}
	t.Logf("routes_apply takes %v; %d of 8 kills left their change live", took, served)
}

// A full disk under routes_apply: it fails, routes.yaml keeps its bytes,
// audit.jsonl holds whole lines only, and once there is room again the
// next change activates exactly itself.
func TestFaultsFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as the state root")
	}
	f := newFaults(t)
	if err := os.MkdirAll(f.root, 0o700); err != nil {
		t.Fatal(err)
	}
	// mode=0700: a tmpfs is 1777 by default, which state_dir refuses as a
	// state root (another user could plant a link in it).
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", f.root).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", f.root).Run() })
	slug := f.slug("dsk")
	f.must("start.star", "name="+slug)
	defer f.must("stop.star", "slug="+slug, "purge=1")
	routes := filepath.Join(f.root, slug, "live-config", "routes.yaml")
	before, err := os.ReadFile(routes)
	if err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	big.WriteString("routes:\n")
	for i := range 4000 {
		fmt.Fprintf(&big, "  - host: h%d.example.test\n", i)
	}
	bigFile := filepath.Join(f.dir, "big.yaml")
	os.WriteFile(bigFile, []byte(big.String()), 0o644)
	filler := filepath.Join(f.root, "filler")
	fillDisk(t, filler, 16<<10)
	code, _, stderr := f.run("routes_apply.star", "slug="+slug, "file="+bigFile)
	if code != 1 || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("routes_apply on a full disk: exit %d, want 1 naming ENOSPC:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "rollback incomplete") || strings.Contains(stderr, "undo step(s) failed") {
		t.Errorf("a rollback with nothing left reported a failed undo:\n%s", stderr)
	}
	if after, _ := os.ReadFile(routes); string(after) != string(before) {
		t.Fatalf("routes.yaml after ENOSPC: %d bytes, want the %d it had", len(after), len(before))
	}
	f.auditLines(slug) // whole lines only
	if f.egressAllows(slug, "h3999.example.test") {
		t.Fatal("the egress serves a host of the change that failed")
	}
	os.Remove(filler)
	f.must("routes_apply.star", "slug="+slug, "add=after.example.test")
	if got, _ := os.ReadFile(routes); string(got) != string(before)+"  - host: after.example.test\n" && !strings.Contains(string(got), "after.example.test") {
		t.Fatalf("routes.yaml after the next change:\n%s", got)
	}
	if f.egressAllows(slug, "h1.example.test") {
		t.Fatal("the next change activated part of the failed one")
	}
	if !f.egressAllows(slug, "after.example.test") || !audited(f.auditLines(slug), "after.example.test") {
		t.Fatal("the next change is not live and audited")
	}
}

// fillDisk writes path until the disk is full, then frees all but room
// bytes of it.
func fillDisk(t *testing.T, path string, room int64) {
	fl, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := fl.Write(buf); err != nil {
			break
		}
	}
	fi, _ := fl.Stat()
	if err := fl.Truncate(max(0, fi.Size()-room)); err != nil {
		t.Fatal(err)
	}
}

// composeOf lists the processes whose command line names compose project
// project (compose v1 is python, v2 the docker CLI plugin).
func composeOf(project string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		for i, a := range args {
			if a == "-p" && i+1 < len(args) && args[i+1] == project {
				out = append(out, e.Name()+": "+strings.Join(args, " "))
			}
		}
	}
	return out
}
