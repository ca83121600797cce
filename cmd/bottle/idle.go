package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

func init() {
	register(command{name: "idle", usage: "idle", summary: "sleep until SIGTERM/SIGINT (stand-in agent process)", order: 80, run: runIdle})
}

// runIdle sleeps until SIGTERM or SIGINT and exits 0. It is meant to run as
// PID 1 of a FROM-scratch container (entrypoint ["/bottle", "idle"]), where
// the kernel applies no default action to signals a process does not handle:
// so it handles TERM and INT itself, reports each SIGHUP on stdout (tests wait
// for that line in the container log), and reaps orphans as an init must.
func runIdle(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] != "-h" && args[0] != "--help" {
			fmt.Fprintf(stderr, "bottle idle: unexpected argument %q\n", args[0])
		}
		fmt.Fprintln(stderr, "usage: bottle idle\n\nSleeps until SIGTERM or SIGINT, then exits 0. Prints \"idle: SIGHUP received\" on each SIGHUP.")
		if args[0] == "-h" || args[0] == "--help" {
			return exitOK
		}
		return exitUsage
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	if os.Getpid() == 1 {
		// Only an init may reap: elsewhere (in-process tests) the children
		// are someone else's to wait for.
		signal.Notify(sigs, unix.SIGCHLD)
	}
	defer signal.Stop(sigs)
	fmt.Fprintf(stdout, "idle: ready (pid %d)\n", os.Getpid())
	for sig := range sigs {
		switch sig {
		case unix.SIGHUP:
			fmt.Fprintln(stdout, "idle: SIGHUP received")
		case unix.SIGCHLD:
			reapChildren()
		default:
			fmt.Fprintf(stdout, "idle: %v received, exiting\n", sig)
			return exitOK
		}
	}
	return exitOK
}

// reapChildren collects exited children that were reparented to us, so that
// they do not linger as zombies when we are PID 1.
func reapChildren() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
