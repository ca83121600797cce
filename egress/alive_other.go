//go:build !unix

package egress

import "net"

// stale cannot peek here; a stale connection is found when a request
// fails on it (and retried when the request has no body).
func stale(net.Conn) bool { return false }
