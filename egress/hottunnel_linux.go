package egress

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// hotTunnel carries a plain tunnel's bytes both ways in one goroutine, for
// as long as the tunnel is simple: while every write goes through at once
// and neither side has ended. It waits for either side through an epoll
// instance of its own that holds both sockets (level-triggered), itself
// parked in the runtime's poller; while the tunnel is busy it may first
// spin on that instance, under the same rules as fastConn's read spin.
//
// Why: at one request at a time, a tunnel as two goroutines (one per
// direction) parks both, and each request and each answer wakes a thread
// on another CPU; and the read spin cannot help, since the goroutine that
// spins for the next request is not the one the answer comes to. One
// goroutine watching both sides can spin for whichever speaks next.
// Measured: CONNECT at one request at a time 7,620-7,930 -> 10,000-10,170
// req/s (BENCHMARKS.md, "Egress").
//
// Parking relies on the kernel waking the runtime's epoll when the
// tunnel's own epoll instance gets an event (nested epoll), which Linux
// has done since epoll began; a kernel that lost such wake-ups would
// stall a parked tunnel until its peer spoke again.
//
// The spin yields the CPU (sched_yield) on every turn: on a machine with
// few CPUs the process it waits for may have been woken onto this very
// CPU, and spinning on would keep it from running until the scheduler's
// time slice ran out (p99 3-4 ms at one request at a time without it).
//
// Anything else ends it, and splice's two goroutines take over where it
// stopped (the bytes it could not write are theirs to write first): a side
// that ends or fails (they read the end again, and half-close as they
// always do), a write the peer is not ready for (they block on it without
// holding up the other direction), a Close from elsewhere (a routes reload
// cutting the tunnel, Shutdown: Close wakes the parked goroutine).
type hotTunnel struct {
	a, b *fastConn // the client, the upstream
	ep   *os.File  // the epoll instance, in the runtime's poller
	eprc syscall.RawConn
	avg  time.Duration // moving average of idle waits, as fastConn.wait
	cold int           // missed waits less caught ones (see coldWaits)
}

// newHotTunnel returns nil when client and up are not both spinning
// fastConns, or the epoll instance cannot be made.
func newHotTunnel(client, up net.Conn) *hotTunnel {
	a, ok1 := client.(*fastConn)
	b, ok2 := up.(*fastConn)
	if !ok1 || !ok2 || a.spin <= 0 || b.spin <= 0 {
		return nil
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	for _, c := range []*fastConn{a, b} {
		cerr := c.rc.Control(func(fd uintptr) {
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
			err = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		})
		if cerr != nil || err != nil {
			syscall.Close(epfd)
			return nil
		}
	}
	if syscall.SetNonblock(epfd, true) != nil {
		syscall.Close(epfd)
		return nil
	}
	ep := os.NewFile(uintptr(epfd), "tunnel epoll")
	eprc, err := ep.SyscallConn()
	if err != nil || ep.SetReadDeadline(time.Time{}) != nil { // not in the runtime's poller: no way to park
		ep.Close()
		return nil
	}
	// A tunnel starts busy (a TLS handshake comes next): it spins at once.
	t := &hotTunnel{a: a, b: b, ep: ep, eprc: eprc}
	a.hot.Store(t)
	b.hot.Store(t)
	return t
}

// wake makes a parked run return (fastConn.Close calls it).
func (t *hotTunnel) wake() { t.ep.SetReadDeadline(time.Unix(1, 0)) }

func (t *hotTunnel) close() {
	t.a.hot.CompareAndSwap(t, nil)
	t.b.hot.CompareAndSwap(t, nil)
	t.ep.Close()
}

// run copies both ways until the tunnel stops being simple (see hotTunnel)
// and returns the bytes it sent to the client, and what it read but could
// not write, for the client's side (toUp) or the upstream's (toClient).
// early is what the client sent before it saw the 200: it goes first.
func (t *hotTunnel) run(early []byte) (sent int64, toUp, toClient []byte) {
	defer t.close()
	if len(early) > 0 {
		if k, err := t.b.tryWrite(early); k < len(early) || err != nil {
			return 0, early[k:], nil
		}
	}
	buf := tunnelBufs.Get().(*[16 << 10]byte)
	defer tunnelBufs.Put(buf)
	empty := 0 // waits in a row after which neither side had anything
	for {
		n, rerr := t.a.tryRead(buf[:])
		if n > 0 {
			if k, err := t.b.tryWrite(buf[:n]); k < n || err != nil {
				return sent, clone(buf[k:n]), nil
			}
		}
		if rerr != nil {
			return sent, nil, nil
		}
		m, rerr := t.b.tryRead(buf[:])
		if m > 0 {
			k, err := t.a.tryWrite(buf[:m])
			sent += int64(k)
			if k < m || err != nil {
				return sent, nil, clone(buf[k:m])
			}
		}
		if rerr != nil {
			return sent, nil, nil
		}
		if n > 0 || m > 0 {
			readCount.Add(1) // as a fastConn read: it ends other connections' spins
			empty = 0
			continue
		}
		// Woken with nothing to read, again and again: a readiness reads
		// cannot consume would keep a CPU busy here. Not one is known (an
		// end, a reset, urgent data all end the tunnel or never show), but
		// the two goroutines would not spin on it.
		if empty++; empty > maxEmptyWakes || !t.wait() {
			return sent, nil, nil
		}
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// coldWaits bounds a hotTunnel's count of missed waits, those longer than
// a spin or that found another connection spinning (each wait its spin
// caught takes one off): at coldWaits it hands over to splice's
// goroutines. Parking through the tunnel's own epoll instance costs more
// system calls than their parking does, so a tunnel whose spin does not
// pay (an agent's, waiting seconds for a model's answer; one of many at
// once, the spin being for one at a time) is better off with them. The
// count forgives the handful of misses a busy tunnel has anyway: its TLS
// handshake's waits, a descheduled peer.
const coldWaits = 16

// maxEmptyWakes bounds the wake-ups in a row that find nothing to read.
const maxEmptyWakes = 64

// wait returns once either side has something (or has ended); false when
// the tunnel should hand over: woken by Close, an error, or too many
// missed waits (see coldWaits). It spins first when the tunnel's recent
// waits were shorter than the spin and no other connection spins.
func (t *hotTunnel) wait() bool {
	start := time.Now()
	spin := t.a.spin
	caught, busy := false, false
	if t.avg < spin {
		if busy = !spinning.CompareAndSwap(false, true); !busy {
			caught = t.spin(start.Add(spin))
			spinning.Store(false)
		}
	}
	if !caught {
		if err := t.eprc.Read(func(fd uintptr) bool { return epollReady(fd) }); err != nil {
			return false
		}
	}
	d := min(time.Since(start), time.Second)
	t.avg = (3*t.avg + d) / 4
	switch {
	case caught:
		t.cold = max(t.cold-1, 0)
	case busy || d > spin: // a miss; a short wait that did not spin is none
		if t.cold++; t.cold >= coldWaits {
			return false
		}
	}
	return true
}

// spin polls the epoll instance until a side has something (true), end
// passes, or another connection reads.
func (t *hotTunnel) spin(end time.Time) bool {
	spins.Add(1)
	seen := readCount.Load()
	for readCount.Load() == seen && time.Now().Before(end) {
		ready := false
		t.eprc.Control(func(fd uintptr) { ready = epollReady(fd) })
		if ready {
			spinsCaught.Add(1)
			return true
		}
		syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
	return false
}

// epollReady reports whether the epoll instance fd has an event, without
// waiting (and without entersyscall: see fastConn).
func epollReady(fd uintptr) bool {
	var evs [2]syscall.EpollEvent
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	return e == 0 && n > 0
}

// tryRead reads what c has now: n > 0, or an error (io.EOF at the end),
// or neither when there is nothing yet. It never waits.
func (c *fastConn) tryRead(b []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		n, errno = sysRead(fd, b)
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return 0, nil
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// tryWrite writes as much of b as c takes now, never waiting.
func (c *fastConn) tryWrite(b []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		errno = writeSome(fd, b, &done) // EAGAIN included: the caller hands over
		return true
	})
	if err == nil && errno != 0 && errno != syscall.EAGAIN {
		err = errno
	}
	return done, err
}

// hotSplice runs the tunnel as a hotTunnel while it can (see splice).
func hotSplice(client net.Conn, early []byte, up net.Conn) (sent int64, toUp, toClient []byte) {
	t := newHotTunnel(client, up)
	if t == nil {
		return 0, early, nil
	}
	return t.run(early)
}

// hotRef is fastConn's link to the hotTunnel using it, for Close.
type hotRef = atomic.Pointer[hotTunnel]
