package egress

import (
	"net"
	"testing"
	"time"
)

// AtRest is called once the proxy has started, then once the last
// connection has been closed for RestAfter, never while one is open, and not
// again until another has come and gone; Woken before the first connection
// after a rest is served.
func TestAtRest(t *testing.T) {
	type event struct {
		what string
		at   time.Time
	}
	events := make(chan event, 16)
	const after = 100 * time.Millisecond
	var closed time.Time
	tp := startProxyWith(t, "routes: []\n", newWorld(t), "127.0.0.1:0", func(c *Config) {
		c.AtRest = func() { events <- event{"rest", time.Now()} }
		c.Woken = func() { events <- event{"woken", time.Now()} }
		c.RestAfter = after
	})
	open := func() net.Conn {
		c, err := net.Dial("tcp", tp.url.Host)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	want := func(what, why string) {
		select {
		case got := <-events:
			if got.what != what {
				t.Fatalf("%s: got %s, want %s", why, got.what, what)
			}
			if what == "rest" && !closed.IsZero() && got.at.Sub(closed) < after {
				t.Errorf("%s: rest %v after the last close, want at least %v", why, got.at.Sub(closed), after)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no %s", why, what)
		}
	}
	quiet := func(why string) {
		select {
		case got := <-events:
			t.Fatalf("%s: %s", why, got.what)
		case <-time.After(3 * after):
		}
	}
	want("rest", "once started")
	quiet("before any connection")

	c := open()
	want("woken", "the first connection")
	quiet("while a connection was open")
	closed = time.Now()
	c.Close()
	want("rest", "after the last connection closed")
	quiet("a second time for one quiet spell")

	// A connection that comes before the time is up puts it off, and
	// wakes nothing: the proxy was not at rest.
	c = open()
	want("woken", "the next connection")
	c.Close()
	time.Sleep(after / 2)
	c = open()
	quiet("while the second connection was open")
	closed = time.Now()
	c.Close()
	want("rest", "after the second connection closed")

	// A reload at rest rests again (it made garbage); Woken does not come.
	closed = time.Time{}
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	want("rest", "after a reload at rest")
	quiet("after the reload")
}
