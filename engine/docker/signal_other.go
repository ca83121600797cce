//go:build !linux

package docker

import "syscall"

// reloadSignals is empty: every signal goes through the daemon.
var reloadSignals = map[string]syscall.Signal{}

// signalDirect never signals outside Linux: the daemon's PIDs are not this
// host's (Docker Desktop runs it in a VM).
func signalDirect(id string, pid int, sig syscall.Signal) bool { return false }

// childAttrs puts compose in its own process group (a terminal's ^C reaches
// bottle only). Outside Linux nothing kills it when bottle dies.
func childAttrs() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
