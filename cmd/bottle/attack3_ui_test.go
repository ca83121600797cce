package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// Any local user can connect to bottle ui's port. A connection that made
// one request (a 401 needs no token) and then sent nothing stayed open for
// good: the server had no idle timeout, so thousands of them held the UI's
// sockets and goroutines. (attack3)
func TestUIClosesIdleConnections(t *testing.T) {
	defer func(d time.Duration) { uiIdle = d }(uiIdle)
	uiIdle = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newUIServer(t.TempDir(), ln.Addr().String(), "127.0.0.1", "token")
	hs := uiHTTPServer(srv, context.Background())
	go hs.Serve(ln)
	defer hs.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: " + ln.Addr().String() + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the server sent more on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle kept-alive connection is still open after 5s (idle timeout 300ms)")
	}
}
