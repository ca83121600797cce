//go:build unix

package egress

import (
	"net"
	"syscall"
)

// stale reports whether a kept-alive upstream connection has been closed
// by the peer (or sent something unasked, such as a TLS close_notify)
// while it sat idle. It peeks without blocking, so a request is never
// written into a connection that is already gone: a request with a body
// could not be retried.
func stale(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = n > 0 || (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR)
		return true
	})
	return gone || err != nil
}
