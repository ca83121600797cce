//go:build !linux

package egress

import (
	"net"
	"time"
)

// maxSpin bounds --spin (which does nothing off Linux).
const maxSpin = 10 * time.Millisecond

// wrapFast is the identity off Linux: see fastio_linux.go.
func wrapFast(c net.Conn, _ time.Duration) net.Conn { return c }

func setSpin(net.Conn, time.Duration) {}

// hotSplice does nothing off Linux: splice's two goroutines do it all.
func hotSplice(_ net.Conn, early []byte, _ net.Conn) (int64, []byte, []byte) { return 0, early, nil }
