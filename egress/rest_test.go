package egress

import (
	"net"
	"testing"
	"time"
)

// AtRest is called once the last connection has been closed for RestAfter,
// never while one is open, and not again until another has come and gone.
func TestAtRest(t *testing.T) {
	rested := make(chan time.Time, 8)
	const after = 100 * time.Millisecond
	tp := startProxyWith(t, "routes: []\n", newWorld(t), "127.0.0.1:0", func(c *Config) {
		c.AtRest = func() { rested <- time.Now() }
		c.RestAfter = after
	})
	open := func() net.Conn {
		c, err := net.Dial("tcp", tp.url.Host)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	quiet := func(d time.Duration, why string) {
		select {
		case <-rested:
			t.Fatalf("AtRest was called %s", why)
		case <-time.After(d):
		}
	}
	quiet(3*after, "before any connection")

	c := open()
	quiet(3*after, "while a connection was open")
	closed := time.Now()
	c.Close()
	select {
	case at := <-rested:
		if at.Sub(closed) < after {
			t.Errorf("AtRest %v after the last close, want at least %v", at.Sub(closed), after)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AtRest was not called after the last connection closed")
	}
	quiet(3*after, "twice for one quiet spell")

	// A connection that comes before the time is up puts it off.
	c = open()
	c.Close()
	time.Sleep(after / 2)
	c = open()
	quiet(3*after, "while the second connection was open")
	c.Close()
	select {
	case <-rested:
	case <-time.After(10 * time.Second):
		t.Fatal("AtRest was not called after the second connection closed")
	}
}
