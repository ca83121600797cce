package egress

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair is two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
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
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c.(*net.TCPConn), peer.(*net.TCPConn)
}

// A plain tunnel sends the client's early bytes first, carries requests
// and answers (raw reads and writes), bulk both ways at once (splice(2)
// once a read fills the buffer), passes half-closes on, and counts what
// the client got.
func TestTunnelCarriesBytes(t *testing.T) {
	client, agent := tcpPair(t)
	up, server := tcpPair(t)
	sent := make(chan int64, 1)
	go func() { sent <- tunnel(wrapRaw(client), []byte("early"), wrapRaw(up), time.Minute) }()
	b := make([]byte, 5)
	if _, err := io.ReadFull(server, b); err != nil || string(b) != "early" {
		t.Fatalf("the server read %q, %v; want the client's early bytes first", b, err)
	}
	go func() {
		one := make([]byte, 1)
		for range 200 {
			if _, err := io.ReadFull(server, one); err != nil {
				return
			}
			server.Write([]byte{one[0] + 1})
		}
	}()
	for i := range 200 {
		agent.Write([]byte{byte(i)})
		if _, err := io.ReadFull(agent, b[:1]); err != nil || b[0] != byte(i)+1 {
			t.Fatalf("answer %d through the tunnel: %v %v", i, b[0], err)
		}
	}

	// 8 MiB each way at once: far beyond the socket buffers.
	upData, downData := make([]byte, 8<<20), make([]byte, 8<<20)
	rand.Read(upData)
	rand.Read(downData)
	gotUp, gotDown := make(chan []byte, 1), make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(io.LimitReader(server, int64(len(upData)))); gotUp <- b }()
	go func() { b, _ := io.ReadAll(io.LimitReader(agent, int64(len(downData)))); gotDown <- b }()
	go server.Write(downData)
	if _, err := agent.Write(upData); err != nil {
		t.Fatal(err)
	}
	if b := <-gotUp; !bytes.Equal(b, upData) {
		t.Fatalf("the server got %d bytes, not the 8 MiB the agent sent", len(b))
	}
	if b := <-gotDown; !bytes.Equal(b, downData) {
		t.Fatalf("the agent got %d bytes, not the 8 MiB the server sent", len(b))
	}

	// The agent is done sending; the server still answers, then ends.
	agent.CloseWrite()
	if n, err := server.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the server read %d, %v after the agent's half-close; want EOF", n, err)
	}
	server.Write([]byte("last"))
	server.Close()
	rest, err := io.ReadAll(agent)
	if err != nil || string(rest) != "last" {
		t.Fatalf("after the half-close the agent read %q, %v; want \"last\" then EOF", rest, err)
	}
	select {
	case n := <-sent:
		if want := int64(200 + len(downData) + len("last")); n != want {
			t.Errorf("the tunnel counted %d bytes to the client; it sent %d", n, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the tunnel still runs 5s after both sides ended")
	}
}
