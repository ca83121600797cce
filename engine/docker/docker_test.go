package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// These tests need a Docker daemon. They skip when none answers, unless
// BOTTLE_REQUIRE_DOCKER=1, which makes that a failure (CI sets it).
//
// Every object they make carries dev.bottle.instance=bt-test-<pid>; objects
// left by earlier runs whose process is gone are removed before and after
// the suite, and a run still going on the same daemon is left alone.

const (
	testPrefix = "bt-test-"
	testImage  = "bottle-enginetest:latest"
)

var (
	testEngine *Engine
	testRun    string // unique per run: bt-test-<pid>
	readerBin  string // static build of testdata/enginetest/reader
	setupErr   error  // why the daemon tests skip
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testRun = fmt.Sprintf("%s%d", testPrefix, os.Getpid())
	e, err := New(ctx)
	if err != nil {
		setupErr = err
		if os.Getenv("BOTTLE_REQUIRE_DOCKER") == "1" {
			fmt.Fprintf(os.Stderr, "BOTTLE_REQUIRE_DOCKER=1 but %v\n", err)
			return 1
		}
		return m.Run()
	}
	testEngine = e
	defer e.Close()
	sweep(ctx, e)
	defer sweep(context.Background(), e)

	dir, err := os.MkdirTemp("", "bottle-enginetest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	readerBin = filepath.Join(dir, "reader")
	build := exec.Command("go", "build", "-o", readerBin, "./testdata/enginetest/reader")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build reader: %v\n%s", err, out)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "motd"), []byte("hello from the image\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	df := "FROM scratch\nCOPY reader /reader\nCOPY motd /etc/motd\nENTRYPOINT [\"/reader\"]\nCMD [\"serve\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	old, _ := e.api.ImageInspect(ctx, testImage)
	id, err := e.ImageBuild(ctx, testImage, dir, "Dockerfile")
	if err != nil {
		fmt.Fprintf(os.Stderr, "build the test image: %v\n", err)
		return 1
	}
	if old.ID != "" && old.ID != id {
		// The last run's image, now untagged: not left to dangle (a
		// concurrent run's container may still use it; then it stays).
		e.api.ImageRemove(ctx, old.ID, client.ImageRemoveOptions{PruneChildren: true})
	}
	return m.Run()
}

// needDocker returns the engine or skips the test.
func needDocker(t testing.TB) *Engine {
	t.Helper()
	if testEngine == nil {
		t.Skipf("no Docker daemon (set BOTTLE_REQUIRE_DOCKER=1 to fail instead): %v", setupErr)
	}
	return testEngine
}

// sweep removes, by label, the containers and networks of this test run
// and of earlier runs whose process is gone; a run still going on the same
// daemon (another checkout's tests, say) keeps its own.
func sweep(ctx context.Context, e *Engine) {
	for _, key := range []string{engine.InstanceLabel, engine.ComposeProjectLabel} {
		ctrs, _ := e.Containers(ctx, map[string]string{key: ""})
		for _, c := range ctrs {
			if ownOrStale(c.Labels[key]) {
				e.ContainerRemove(ctx, c.ID)
			}
		}
	}
	for _, key := range []string{engine.InstanceLabel, engine.ComposeProjectLabel} {
		nets, _ := e.Networks(ctx, map[string]string{key: ""})
		for _, n := range nets {
			if ownOrStale(n.Labels[key]) {
				e.NetworkRemove(ctx, n.ID)
			}
		}
	}
}

// ownOrStale reports whether label (bt-test-<pid>...) belongs to this run,
// or to a run whose process no longer exists.
func ownOrStale(label string) bool {
	rest, ok := strings.CutPrefix(label, testPrefix)
	if !ok {
		return false
	}
	digits := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		digits = rest[:i]
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid == os.Getpid() {
		return true
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

func testLabels() map[string]string { return map[string]string{engine.InstanceLabel: testRun} }

// runContainer starts a container of the test image with cmd (after the
// /reader entrypoint) and binds ("host:ctr"), and removes it at the end.
func runContainer(t *testing.T, e *Engine, name string, cmd []string, binds ...string) string {
	t.Helper()
	ctx := context.Background()
	name = testRun + "-" + name
	_, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: testImage, Cmd: cmd, Labels: testLabels()},
		HostConfig: &container.HostConfig{Binds: binds},
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { e.ContainerRemove(context.Background(), name) })
	if _, err := e.api.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return name
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func catInside(t *testing.T, e *Engine, ctr, path string) string {
	t.Helper()
	r, err := e.Exec(ctxT(t), ctr, []string{"/reader", "cat", path})
	if err != nil || r.Code != 0 {
		t.Fatalf("exec cat %s in %s: %v (code %d, stderr %q)", path, ctr, err, r.Code, r.Stderr)
	}
	return r.Stdout
}
