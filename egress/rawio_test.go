//go:build linux

package egress

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// rawPair is a rawConn and the peer of its TCP connection.
func rawPair(t *testing.T) (*rawConn, *net.TCPConn) {
	t.Helper()
	c, peer := tcpPair(t)
	rc, ok := wrapRaw(c).(*rawConn)
	if !ok {
		t.Fatalf("wrapRaw(%T) is not a rawConn", c)
	}
	return rc, peer
}

// A rawConn keeps a TCP connection's behaviour: bytes both ways, large
// writes that fill the socket, half-close, deadlines, Close from another
// goroutine, EOF and resets, all with the errors net.TCPConn gives.
func TestRawConnBehavesLikeTCP(t *testing.T) {
	fc, peer := rawPair(t)

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

func TestRawConnCloseAndReset(t *testing.T) {
	fc, _ := rawPair(t)
	errc := make(chan error, 1)
	go func() { _, err := fc.Read(make([]byte, 10)); errc <- err }()
	time.Sleep(20 * time.Millisecond) // let the read park
	fc.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read parked when Close came: %v, want net.ErrClosed", err)
	}

	fc, peer := rawPair(t)
	peer.SetLinger(0) // close with a RST
	peer.Close()
	time.Sleep(20 * time.Millisecond)
	if _, err := fc.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset: %v, want ECONNRESET", err)
	}
}
