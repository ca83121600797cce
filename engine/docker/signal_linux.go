package docker

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// reloadSignals are the signals Signal may deliver without the daemon: ones
// that ask a process to reload or report, not to stop.
var reloadSignals = map[string]syscall.Signal{"SIGHUP": syscall.SIGHUP, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2}

// signalDirect sends sig to pid, the host PID the daemon reports for the
// container id's PID 1, and reports whether it did. It does only when the
// process is in the container's cgroup as this host's /proc shows it, so a
// daemon in another PID namespace (Docker Desktop's VM, bottle itself in a
// container) or a PID reused since the inspect never gets a stray signal;
// and when bottle may signal it (root, or rootless Docker).
func signalDirect(id string, pid int, sig syscall.Signal) bool {
	if pid <= 0 || len(id) != 64 {
		return false
	}
	// A pidfd where the kernel has them: the process checked below is the
	// one signalled, or the signal fails.
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	defer p.Release()
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil || !bytes.Contains(cg, []byte(id)) {
		return false
	}
	return p.Signal(sig) == nil
}

// childAttrs puts compose in its own process group (a terminal's ^C reaches
// bottle only, and bottle decides) and has the kernel kill it when bottle
// dies (kill -9 included): a compose left behind would go on bringing up a
// bottle that no run owns.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
