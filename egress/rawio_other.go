//go:build !linux

package egress

import "net"

// wrapRaw is the identity off Linux: see rawio_linux.go.
func wrapRaw(c net.Conn) net.Conn { return c }

func tcpConn(c net.Conn) net.Conn { return c }
