//go:build linux

package egress

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// tunnelUnderTest is splice running between two fastConns, with the agent's
// end (agent) and the upstream server's end (server) of the tunnel.
type tunnelUnderTest struct {
	client, up    *fastConn
	agent, server *net.TCPConn
	sent          chan int64 // splice's result, once it returns
}

func startTunnel(t *testing.T, spin time.Duration, early []byte) *tunnelUnderTest {
	t.Helper()
	needSpin(t) // no tunnel runs hot without a spin
	client, agent := fastPair(t, spin)
	up, server := fastPair(t, spin)
	tu := &tunnelUnderTest{client: client, up: up, agent: agent, server: server, sent: make(chan int64, 1)}
	go func() { tu.sent <- splice(client, early, up) }()
	return tu
}

// waitDone waits for splice to return, and returns what it counted.
func (tu *tunnelUnderTest) waitDone(t *testing.T, after string) int64 {
	t.Helper()
	select {
	case sent := <-tu.sent:
		return sent
	case <-time.After(5 * time.Second):
		t.Fatalf("splice still running 5s after %s", after)
		return 0
	}
}

// ping sends n one-byte requests from the agent, each answered by the
// server after delay, and checks every answer.
func (tu *tunnelUnderTest) ping(t *testing.T, n int, delay time.Duration) {
	t.Helper()
	go func() {
		b := make([]byte, 1)
		for range n {
			if _, err := io.ReadFull(tu.server, b); err != nil {
				return
			}
			time.Sleep(delay)
			tu.server.Write([]byte{b[0] + 1})
		}
	}()
	b := make([]byte, 1)
	for i := range n {
		if _, err := tu.agent.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(tu.agent, b); err != nil || b[0] != byte(i)+1 {
			t.Fatalf("answer %d through the tunnel: %v %v", i, b, err)
		}
	}
}

// A busy tunnel runs hot: one goroutine spinning for whichever side
// speaks next catches the answers; bulk both ways at once (writes the
// peers are not ready for: the hand-over to two goroutines) arrives
// whole; half-closes pass through; splice counts what the client got.
func TestHotTunnelCarriesATunnel(t *testing.T) {
	tu := startTunnel(t, 5*time.Millisecond, []byte("early"))
	b := make([]byte, 5)
	if _, err := io.ReadFull(tu.server, b); err != nil || string(b) != "early" {
		t.Fatalf("the server read %q, %v; want the client's early bytes first", b, err)
	}
	caught := spinsCaught.Load()
	tu.ping(t, 200, 100*time.Microsecond)
	if c := spinsCaught.Load() - caught; c < 100 {
		t.Errorf("200 answers after 100µs: the tunnel's spin caught %d; want most", c)
	}
	if tu.client.hot.Load() == nil {
		t.Fatal("the busy tunnel handed over to two goroutines")
	}

	// 8 MiB each way at once: far beyond the socket buffers.
	up, down := make([]byte, 8<<20), make([]byte, 8<<20)
	rand.Read(up)
	rand.Read(down)
	gotUp, gotDown := make(chan []byte, 1), make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(io.LimitReader(tu.server, int64(len(up)))); gotUp <- b }()
	go func() { b, _ := io.ReadAll(io.LimitReader(tu.agent, int64(len(down)))); gotDown <- b }()
	go tu.server.Write(down)
	if _, err := tu.agent.Write(up); err != nil {
		t.Fatal(err)
	}
	if b := <-gotUp; !bytes.Equal(b, up) {
		t.Fatalf("the server got %d bytes, not the 8 MiB the agent sent", len(b))
	}
	if b := <-gotDown; !bytes.Equal(b, down) {
		t.Fatalf("the agent got %d bytes, not the 8 MiB the server sent", len(b))
	}

	// The agent is done sending; the server still answers, then ends.
	tu.agent.CloseWrite()
	if n, err := tu.server.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the server read %d, %v after the agent's half-close; want EOF", n, err)
	}
	tu.server.Write([]byte("last"))
	tu.server.Close()
	rest, err := io.ReadAll(tu.agent)
	if err != nil || string(rest) != "last" {
		t.Fatalf("after the half-close the agent read %q, %v; want \"last\" then EOF", rest, err)
	}
	if sent, want := tu.waitDone(t, "both sides ended"), int64(200+len(down)+len("last")); sent != want {
		t.Errorf("splice counted %d bytes to the client; it sent %d", sent, want)
	}
}

// Close from elsewhere (a routes reload cutting the tunnel, Shutdown)
// wakes a hot tunnel parked between requests, and the tunnel ends.
func TestHotTunnelCloseWakesIt(t *testing.T) {
	tu := startTunnel(t, 5*time.Millisecond, nil)
	tu.ping(t, 50, 100*time.Microsecond)
	time.Sleep(50 * time.Millisecond) // idle: past its spin, parked
	if tu.client.hot.Load() == nil {
		t.Fatal("the tunnel handed over after one idle wait")
	}
	tu.client.Close()
	// Parked on, it would never see the closed socket: the server would
	// wait forever. Woken, it hands over, and the client-to-server
	// direction ends with the half-close a closed client gets.
	tu.server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tu.server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the server side after the client's Close: %v, want EOF", err)
	}
	tu.server.Close()
	tu.waitDone(t, "both connections were closed")
}

// A tunnel whose answers take long (an agent waiting for a model) hands
// over to two parked goroutines once its spin has missed often enough,
// and goes on working.
func TestHotTunnelHandsOverWhenCold(t *testing.T) {
	tu := startTunnel(t, 200*time.Microsecond, nil)
	tu.ping(t, 16, 5*time.Millisecond) // 32 waits, none a 200µs spin catches
	waitUntil(t, "the hand-over", func() bool { return tu.client.hot.Load() == nil })
	tu.ping(t, 20, 0)
	tu.agent.Close()
	tu.server.Close()
	tu.waitDone(t, "both sides closed")
}

// With --spin 0 a tunnel is two goroutines from the start.
func TestHotTunnelNotWithoutSpin(t *testing.T) {
	client, _ := fastPair(t, 0)
	up, _ := fastPair(t, 0)
	if ht := newHotTunnel(client, up); ht != nil {
		ht.close()
		t.Fatal("a hot tunnel with --spin 0")
	}
}
