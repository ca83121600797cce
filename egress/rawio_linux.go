package egress

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawConn is a TCP connection whose reads and writes are the socket's own
// non-blocking read(2) and write(2), made without telling the Go scheduler
// (RawSyscall; rawio_norace.go) and waiting through the runtime's poller
// when the socket has nothing (EAGAIN), as net.Conn does. It never polls
// or spins: a read that finds nothing parks at once.
//
// Why: every ordinary socket call goes through entersyscall, and the first
// one after the process was idle wakes the runtime's sysmon thread. A
// proxy that serves one request at a time is idle between requests, so
// that is a wake-up of a second thread per request; measured at one
// request at a time, with the upstream 1 ms away, a request cost about
// twice the CPU through net.Conn (BENCHMARKS.md, "Egress"). A non-blocking
// socket call cannot block, so the scheduler need not know of it.
type rawConn struct {
	net.Conn // the *net.TCPConn: deadlines, addresses, Close
	tcp      *net.TCPConn
	rc       syscall.RawConn
}

// wrapRaw returns c as a rawConn when it is a TCP connection, else c.
func wrapRaw(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &rawConn{Conn: tc, tcp: tc, rc: rc}
}

func (c *rawConn) CloseWrite() error { return c.tcp.CloseWrite() }

// SyscallConn lets stale() peek at the socket, as on a *net.TCPConn.
func (c *rawConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// tcpConn is the connection under c, for splice(2) (see relay).
func tcpConn(c net.Conn) net.Conn {
	if rc, ok := c.(*rawConn); ok {
		return rc.tcp
	}
	return c
}

func (c *rawConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, errno = sysRead(fd, b)
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // park until readable
			}
			return true
		}
	})
	if err != nil {
		return 0, c.opErr("read", err)
	}
	if errno != 0 {
		return 0, c.opErr("read", os.NewSyscallError("read", errno))
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawConn) Write(b []byte) (int, error) {
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
func (c *rawConn) opErr(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // RawConn's own "raw-read tcp A->B:" wrapping
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
