//go:build linux

package egress

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fastPair returns a fastConn (spinning up to spin) and the plain TCP
// connection at its other end.
func fastPair(t *testing.T, spin time.Duration) (*fastConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fc, ok := wrapFast(c, spin).(*fastConn)
	if !ok {
		t.Fatalf("wrapFast(%T) is not a fastConn", c)
	}
	t.Cleanup(func() { fc.Close(); peer.Close() })
	return fc, peer.(*net.TCPConn)
}

// A fastConn keeps a TCP connection's behaviour: bytes both ways, large
// writes that fill the socket, half-close, deadlines, Close from another
// goroutine, EOF and resets, all with the errors net.TCPConn gives.
func TestFastConnBehavesLikeTCP(t *testing.T) {
	fc, peer := fastPair(t, 200*time.Microsecond)

	// 8 MiB each way: far more than the socket buffers, so writes meet
	// EAGAIN and wait for the reader.
	big := make([]byte, 8<<20)
	rand.Read(big)
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big)))); got <- b }()
	if n, err := fc.Write(big); err != nil || n != len(big) {
		t.Fatalf("Write 8 MiB = %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("peer read %d bytes, not the 8 MiB written", len(b))
	}
	go func() { peer.Write(big) }()
	back := make([]byte, len(big))
	if _, err := io.ReadFull(fc, back); err != nil || !bytes.Equal(back, big) {
		t.Fatalf("ReadFull 8 MiB: %v (equal %v)", err, bytes.Equal(back, big))
	}

	// Half-close: the peer sees EOF and can still answer.
	if err := fc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(peer); err != nil || len(b) != 0 {
		t.Fatalf("peer after CloseWrite: %q, %v", b, err)
	}
	peer.Write([]byte("still here"))
	buf := make([]byte, 64)
	if n, err := fc.Read(buf); err != nil || string(buf[:n]) != "still here" {
		t.Fatalf("Read after CloseWrite = %q, %v", buf[:n], err)
	}

	// A read deadline gives a timeout, as net.Conn's does.
	fc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, err := fc.Read(buf)
	if !isTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
	fc.SetReadDeadline(time.Time{})

	// The peer's close is EOF.
	peer.Close()
	if n, err := fc.Read(buf); err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want EOF", n, err)
	}
}

func TestFastConnCloseAndReset(t *testing.T) {
	fc, peer := fastPair(t, 0)
	errc := make(chan error, 1)
	go func() { _, err := fc.Read(make([]byte, 10)); errc <- err }()
	time.Sleep(20 * time.Millisecond) // let the read park
	fc.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read parked when Close came: %v, want net.ErrClosed", err)
	}

	fc, peer = fastPair(t, 0)
	peer.SetLinger(0) // close with a RST
	peer.Close()
	time.Sleep(20 * time.Millisecond)
	if _, err := fc.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset: %v, want ECONNRESET", err)
	}
}

// exchange writes a byte to the peer, which answers after delay, and
// reads the answer; n times.
func exchange(t *testing.T, fc *fastConn, peer net.Conn, n int, delay time.Duration) {
	t.Helper()
	go func() {
		b := make([]byte, 1)
		for range n {
			if _, err := io.ReadFull(peer, b); err != nil {
				return
			}
			time.Sleep(delay)
			peer.Write(b)
		}
	}()
	b := make([]byte, 1)
	for i := range n {
		if _, err := fc.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(fc, b); err != nil || b[0] != byte(i) {
			t.Fatalf("exchange %d: %v %v", i, b, err)
		}
	}
}

// Spinning is earned by short waits: a connection whose answers come
// within the spin spins and catches them; one that waits long never spins.
func TestFastConnSpinsOnlyWhenHot(t *testing.T) {
	needSpin(t)
	fc, peer := fastPair(t, 5*time.Millisecond)
	spun, caught := spins.Load(), spinsCaught.Load()
	exchange(t, fc, peer, 300, 100*time.Microsecond)
	if s, c := spins.Load()-spun, spinsCaught.Load()-caught; s < 150 || c < s*3/4 {
		t.Errorf("hot connection: %d spins, %d caught data in 300 answers after 100µs; want most", s, c)
	}

	slow, speer := fastPair(t, 5*time.Millisecond)
	spun = spins.Load()
	exchange(t, slow, speer, 10, 20*time.Millisecond)
	if s := spins.Load() - spun; s != 0 {
		t.Errorf("a connection answered after 20ms spun %d times with a 5ms spin; want none", s)
	}
}

// One connection spins at a time, and a read on any other connection ends
// the spin at once: a busy proxy has better use for the CPU.
func TestFastConnSpinYields(t *testing.T) {
	needSpin(t)
	fc, peer := fastPair(t, time.Hour)
	fc.wait = 0 // as after short waits
	other, opeer := fastPair(t, time.Hour)
	done := make(chan error, 1)
	go func() { _, err := fc.Read(make([]byte, 1)); done <- err }()
	waitUntil(t, "the read to spin", spinning.Load)
	other.wait = 0
	opeer.Write([]byte("x")) // other reads at once: its own spin is refused, not waited for
	if _, err := other.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for spinning.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if spinning.Load() {
		t.Fatal("the spin went on after another connection read")
	}
	peer.Write([]byte("y"))
	if err := <-done; err != nil {
		t.Fatalf("the read that stopped spinning: %v", err)
	}
}

// needSpin skips a test of spinning where nothing spins: one scheduler
// thread (see wrapFast).
func needSpin(t *testing.T) {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one scheduler thread: nothing spins")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
	}
}

// Close during a spinning read ends it (once the spin is over) with
// net.ErrClosed, as on a parked one.
func TestFastConnCloseWhileSpinning(t *testing.T) {
	needSpin(t)
	fc, _ := fastPair(t, maxSpin)
	fc.wait = 0 // as after short waits
	errc := make(chan error, 1)
	go func() { _, err := fc.Read(make([]byte, 1)); errc <- err }()
	waitUntil(t, "the read to spin", spinning.Load)
	fc.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read spinning when Close came: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked 5s after Close")
	}
}

// With one scheduler thread a spin would stall every other connection:
// there is none.
func TestFastConnNoSpinWithOneProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	fc, _ := fastPair(t, maxSpin)
	if fc.spin != 0 {
		t.Fatalf("GOMAXPROCS=1: spin %v, want 0", fc.spin)
	}
}

// Errors read like net.TCPConn's: one "read tcp A->B:" prefix, not two.
func TestFastConnErrorText(t *testing.T) {
	fc, _ := fastPair(t, 0)
	fc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := fc.Read(make([]byte, 1))
	if msg := err.Error(); strings.Count(msg, "tcp ") != 1 || !strings.HasPrefix(msg, "read tcp ") || !strings.HasSuffix(msg, "i/o timeout") {
		t.Fatalf("error text %q", msg)
	}
}
