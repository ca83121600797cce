package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// A reload signal reaches PID 1 both ways: straight to the process (the
// default where the cgroup check passes) and through the daemon.
func TestSignalDirectAndViaAPI(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	ctr := runContainer(t, e, "sig2", []string{"serve"})
	if _, err := e.WaitLog(ctx, ctr, regexp.MustCompile(`ready`), time.Unix(0, 0), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	defer func() { e.signalViaAPI = false }()
	start := time.Now()
	for _, viaAPI := range []bool{false, true} {
		e.signalViaAPI = viaAPI
		since, err := e.Signal(ctx, ctr, "HUP")
		if err != nil {
			t.Fatalf("via API %v: %v", viaAPI, err)
		}
		if _, err := e.WaitLog(ctx, ctr, regexp.MustCompile(`SIGHUP received`), since, 10*time.Second); err != nil {
			t.Errorf("via API %v: %v", viaAPI, err)
		}
	}
	// The daemon logs a "kill" event for each signal it delivers: one here,
	// where bottle (root, same PID namespace) can signal directly.
	ins, err := e.api.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ins.Container.State.Pid))
	if os.Geteuid() == 0 && strings.Contains(string(cg), ins.Container.ID) {
		f := make(client.Filters).Add("container", ins.Container.ID).Add("event", "kill")
		ev := e.api.Events(ctx, client.EventsListOptions{Since: fmt.Sprint(start.Unix() - 1), Until: fmt.Sprint(time.Now().Unix() + 1), Filters: f})
		kills := 0
	read:
		for {
			select {
			case <-ev.Messages:
				kills++
			case err := <-ev.Err:
				if err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break read
			}
		}
		if kills != 1 {
			t.Errorf("the daemon delivered %d of the 2 signals, want 1 (the one via the API)", kills)
		}
	} else {
		t.Logf("direct signals not possible here (euid %d): both went through the daemon", os.Geteuid())
	}

	// A stopped container: the daemon's error, whatever the signal.
	e.signalViaAPI = false
	zero := 0
	if _, err := e.api.ContainerStop(ctx, ctr, client.ContainerStopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Signal(ctx, ctr, "HUP"); err == nil || !strings.Contains(err.Error(), "signal SIGHUP "+ctr) {
		t.Errorf("HUP to a stopped container: %v", err)
	}
}

// A process outside the container's cgroup is never signalled directly:
// here, this test process (SIGHUP would end it).
func TestSignalDirectChecksCgroup(t *testing.T) {
	if signalDirect(strings.Repeat("ab", 32), os.Getpid(), syscall.SIGHUP) {
		t.Error("signalDirect signalled a process outside the container")
	}
	if signalDirect("short", os.Getpid(), syscall.SIGHUP) || signalDirect(strings.Repeat("ab", 32), 0, syscall.SIGHUP) {
		t.Error("signalDirect accepted a bad id or pid")
	}
}

// WaitLog and the compose logs read both kinds of log stream: multiplexed
// (no TTY) and raw (a container with a TTY), told apart by the first byte.
func TestWaitLogWithTTY(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	name := testRun + "-tty"
	_, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   name,
		Config: &container.Config{Image: testImage, Cmd: []string{"serve", "--name", "tty"}, Tty: true, Labels: testLabels()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ContainerRemove(context.Background(), name) })
	if _, err := e.api.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	line, err := e.WaitLog(ctx, name, regexp.MustCompile(`ready`), time.Unix(0, 0), 10*time.Second)
	if err != nil || line != "reader tty: ready" {
		t.Fatalf("WaitLog = %q, %v", line, err)
	}
	c, err := e.Inspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	text, err := e.projectLogs(ctx, []engine.Container{c})
	if err != nil || !regexp.MustCompile(`(?m)^`+name+` \| \d{4}-\S+ reader tty: ready$`).MatchString(text) {
		t.Errorf("projectLogs = %q, %v", text, err)
	}
}
