package egress

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// fastConn is a TCP connection whose reads and writes are the socket's own
// non-blocking read(2) and write(2), made without telling the Go scheduler
// (RawSyscall) and waiting through the runtime's poller only when the socket
// has nothing (EAGAIN).
//
// Why: every ordinary socket call goes through entersyscall, and the first
// one after the process was idle wakes the runtime's sysmon thread. At one
// request at a time that is a wake-up of a second thread per request, each a
// context switch on another CPU (3.5 of the 6 context switches per
// intercepted request measured on the CI machine, a 2-vCPU VM where waking a
// halted vCPU is dear). A non-blocking socket call cannot block, so the
// scheduler need not know of it. See BENCHMARKS.md, "Egress".
//
// A read that finds nothing may also spin, polling the socket for up to the
// proxy's --spin before parking, when all of these hold:
//   - this connection's recent waits were shorter than the spin (an agent's
//     idle keep-alive connection, waiting seconds, never spins);
//   - no other connection is spinning (one CPU at most, ever);
//   - nothing else in the proxy reads meanwhile (another connection's read
//     ends the spin: a busy proxy has better use for the CPU);
//   - the proxy has more than one scheduler thread (GOMAXPROCS > 1), so other
//     connections' goroutines can run, and read, while one spins.
//
// A spin is at most maxSpin: Close and deadlines on a spinning read wait
// for it to end.
//
// Only the goroutine reading a fastConn touches its wait estimate; reads and
// writes may run concurrently (a tunnel's two directions), as on a net.Conn.
type fastConn struct {
	net.Conn // the *net.TCPConn: deadlines, addresses, Close
	tcp      *net.TCPConn
	rc       syscall.RawConn
	spin     time.Duration
	wait     time.Duration // moving average of recent read waits
	hot      hotRef        // the hotTunnel carrying this connection, if any
}

// maxSpin bounds --spin.
const maxSpin = 10 * time.Millisecond

var (
	spinning  atomic.Bool   // a connection is spinning
	readCount atomic.Uint64 // reads that returned data, all connections

	spins, spinsCaught atomic.Uint64 // spins begun, and those that got data
)

// wrapFast returns c as a fastConn when it is a TCP connection, else c.
func wrapFast(c net.Conn, spin time.Duration) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	if runtime.GOMAXPROCS(0) < 2 {
		// One scheduler thread: a spinning goroutine would keep every
		// other connection's goroutine from running until it gives up.
		spin = 0
	}
	// Start above the spin: a connection earns spinning by short waits.
	return &fastConn{Conn: tc, tcp: tc, rc: rc, spin: spin, wait: 2 * spin}
}

func (c *fastConn) CloseWrite() error { return c.tcp.CloseWrite() }

// Close closes the connection, then wakes the hotTunnel parked on it (in
// that order: a tunnel that registers in between finds the socket closed
// on its first read). Deadlines do not wake a parked hotTunnel: nothing
// sets one on a tunnel's connections before it hands over.
func (c *fastConn) Close() error {
	err := c.Conn.Close()
	if t := c.hot.Load(); t != nil {
		t.wake()
	}
	return err
}

// SyscallConn lets stale() peek at the socket, as on a *net.TCPConn.
func (c *fastConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

func (c *fastConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	var waited time.Time
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, errno = sysRead(fd, b)
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				if waited.IsZero() {
					waited = time.Now()
					return c.spinRead(fd, b, waited, &n, &errno)
				}
				return false // park until readable
			}
			return true
		}
	})
	if !waited.IsZero() {
		d := min(time.Since(waited), time.Second)
		c.wait = (3*c.wait + d) / 4
	}
	if err != nil {
		return 0, c.opErr("read", err)
	}
	if errno != 0 {
		return 0, c.opErr("read", os.NewSyscallError("read", errno))
	}
	if n == 0 {
		return 0, io.EOF
	}
	readCount.Add(1)
	return n, nil
}

// spinRead polls fd until data comes, the spin runs out, or another
// connection reads; it reports whether the read is done (n and errno set).
func (c *fastConn) spinRead(fd uintptr, b []byte, start time.Time, n *int, errno *syscall.Errno) bool {
	if c.spin <= 0 || c.wait >= c.spin || !spinning.CompareAndSwap(false, true) {
		return false
	}
	defer spinning.Store(false)
	spins.Add(1)
	seen := readCount.Load()
	end := start.Add(c.spin)
	for time.Now().Before(end) && readCount.Load() == seen {
		*n, *errno = sysRead(fd, b)
		if *errno != syscall.EAGAIN && *errno != syscall.EINTR {
			spinsCaught.Add(1)
			return true
		}
		// Give way to whatever else wants this CPU: on a machine with
		// few CPUs it may be the very process this read waits for.
		syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
	return false
}

func (c *fastConn) Write(b []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		errno = writeSome(fd, b, &done)
		return errno != syscall.EAGAIN // EAGAIN: wait until writable
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	if err != nil {
		return done, c.opErr("write", err)
	}
	return done, nil
}

// writeSome writes b[*done:] to fd until all of it is written or a write
// fails (EAGAIN included), and returns that failure's errno, or 0.
func writeSome(fd uintptr, b []byte, done *int) syscall.Errno {
	for *done < len(b) {
		n, e := sysWrite(fd, b[*done:])
		switch e {
		case 0:
			*done += n
		case syscall.EINTR:
		default:
			return e
		}
	}
	return 0
}

// opErr wraps err as net.TCPConn's methods do, so callers see the same
// errors (net.ErrClosed, os.ErrDeadlineExceeded, ECONNRESET) either way.
func (c *fastConn) opErr(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // RawConn's own "raw-read tcp A->B:" wrapping
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// setSpin changes how long reads on c may spin, when c is a fastConn.
func setSpin(c net.Conn, spin time.Duration) {
	if ic, ok := c.(*interceptConn); ok {
		c = ic.Conn // a tunnel through an upstream proxy that sent early bytes
	}
	if fc, ok := c.(*fastConn); ok {
		fc.spin = spin
	}
}
