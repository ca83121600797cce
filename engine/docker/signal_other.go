//go:build !linux

package docker

import "syscall"

// reloadSignals is empty: every signal goes through the daemon.
var reloadSignals = map[string]syscall.Signal{}

// signalDirect never signals outside Linux: the daemon's PIDs are not this
// host's (Docker Desktop runs it in a VM).
func signalDirect(id string, pid int, sig syscall.Signal) bool { return false }
