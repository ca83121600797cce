package docker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// A child of the command (a ProxyCommand, ssh -W of a ProxyJump, a
// lingering mux) that keeps its stderr open must not hang Close.
func TestAttack6CmdConnCloseWithLingeringChild(t *testing.T) {
	c, err := commandConn(context.Background(), "sh", "-c", "sleep 20 & echo up; exec cat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	pid := c.(*cmdConn).cmd.Process.Pid
	t.Cleanup(func() { killGroup(pid) })
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs while a child of the command holds its stderr")
	}
}

// What the command says on stderr is held to a bound (a remote printing
// without end must not grow bottle's memory, nor the error).
func TestAttack6CmdConnStderrBounded(t *testing.T) {
	c, err := commandConn(context.Background(), "sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' x >&2; exit 1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Read(make([]byte, 10))
	if err == nil {
		t.Fatal("no error at EOF")
	}
	cc := c.(*cmdConn)
	if n := len(cc.stderr.String()); n > 1<<20 {
		t.Errorf("the stderr buffer holds %d bytes", n)
	}
	if n := len(err.Error()); n > 64<<10 {
		t.Errorf("the error is %d bytes long", n)
	}
}

// Read, Write and Close at once, with -race.
func TestAttack6CmdConnConcurrentClose(t *testing.T) {
	for i := 0; i < 20; i++ {
		c, err := commandConn(context.Background(), "sh", "-c", "echo oops >&2; exec cat")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(4)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Write([]byte(strings.Repeat("a", 4096))); err != nil {
					return
				}
			}
		}()
		go func() { defer wg.Done(); time.Sleep(time.Millisecond); c.Close() }()
		go func() { defer wg.Done(); time.Sleep(time.Millisecond); c.Close() }()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Read, Write or Close hang")
		}
		if _, err := c.Write([]byte("x")); err == nil {
			t.Error("Write after Close succeeded")
		}
	}
}

func killGroup(pid int) { _ = syscallKill(-pid) }
