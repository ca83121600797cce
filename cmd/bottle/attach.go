package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/runtime"
	"github.com/bottle-sh/bottle/state"
)

func init() {
	register(command{
		name:    "attach",
		usage:   "attach [--state DIR] [--service NAME] [--user USER] [-i] SLUG [-- CMD ...]",
		summary: "open an interactive shell (or CMD) in a bottle's agent, with a TTY",
		order:   40,
		run:     runAttach,
	})
}

func runAttach(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("attach", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateRoot := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	service := fs.String("service", "", "attach to this `SERVICE` instead of the agent (egress, pipelock, ...)")
	user := fs.String("user", "", "run as `USER` (default: the manifest's agent.user)")
	interactive := fs.Bool("i", false, "pass standard input even when it is not a terminal")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle attach [flags] SLUG [-- CMD ...]

Run the bottle's attach command (the manifest's agent.attach; /bin/sh by
default) or CMD inside its agent container, like docker exec -it: when standard
input is a terminal it is put in raw mode and the command gets a TTY that
follows the terminal's size. Otherwise the command runs without a TTY and its
output and exit code pass through (standard input too, with -i).

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), `
Examples:
  bottle attach implementer
  bottle attach implementer -- git status
  bottle attach --service egress implementer -- /bottle version
`)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintf(stderr, "bottle attach: missing SLUG\nusage: bottle %s\n", commands["attach"].usage)
		return exitUsage
	}
	slug, cmd := rest[0], rest[1:]
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	root, err := runtime.StateRoot(*stateRoot, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle attach: %v\n", err)
		return exitUsage
	}
	if err := trustedStateRoot(root); err != nil {
		fmt.Fprintf(stderr, "bottle attach: %v\n", err)
		return exitFailed
	}
	meta, err := state.Read(root, slug)
	if err != nil {
		fmt.Fprintf(stderr, "bottle attach: %v\n", err)
		return exitFailed
	}
	if meta.Status != state.Running {
		fmt.Fprintf(stderr, "bottle attach: bottle %q is %s; start it with: bottle run start name=%s\n", slug, meta.Status, meta.Name)
		return exitFailed
	}
	svc := *service
	if svc == "" {
		svc = meta.Attach.Service
	}
	ctr, ok := meta.Services[svc]
	if !ok {
		fmt.Fprintf(stderr, "bottle attach: bottle %q has no service %q (it has: %v)\n", slug, svc, slices.Sorted(maps.Keys(meta.Services)))
		return exitUsage
	}
	if len(cmd) == 0 {
		cmd = meta.Attach.Cmd
	}
	if len(cmd) == 0 {
		// start.star writes the manifest's agent.attach, defaults filled in.
		fmt.Fprintf(stderr, "bottle attach: %s names no attach command; give one after --, or start the bottle again to record it\n",
			filepath.Join(root, slug, state.MetadataFile))
		return exitFailed
	}
	eio := engine.ExecIO{Stdout: stdout, Stderr: stderr, User: *user}
	if eio.User == "" && svc == meta.Attach.Service {
		eio.User = meta.Attach.User
	}

	ctx, cancel := signal.NotifyContext(context.Background(), unix.SIGTERM)
	defer cancel()
	eng, err := bottleEngine(ctx, meta)
	if err != nil {
		fmt.Fprintf(stderr, "bottle attach: %v\n", err)
		return exitFailed
	}

	in := int(os.Stdin.Fd())
	if term.IsTerminal(in) {
		// Like docker exec -it: a TTY in the container, the local terminal raw,
		// and the container's TTY resized whenever the local one is.
		old, err := term.MakeRaw(in)
		if err != nil {
			fmt.Fprintf(stderr, "bottle attach: raw mode: %v\n", err)
			return exitFailed
		}
		defer term.Restore(in, old)
		eio.TTY = true
		eio.Stdin = os.Stdin
		eio.Env = []string{"TERM=" + envOr("TERM", "xterm")}
		resize := make(chan [2]uint, 1)
		eio.Resize = resize
		sendSize := func() {
			if w, h, err := term.GetSize(in); err == nil {
				select {
				case resize <- [2]uint{uint(h), uint(w)}:
				default:
				}
			}
		}
		sendSize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				sendSize()
			}
		}()
	} else if *interactive {
		eio.Stdin = os.Stdin
	}

	code, err := eng.ExecInteractive(ctx, ctr, cmd, eio)
	if err != nil {
		fmt.Fprintf(stderr, "bottle attach: %v\r\n", err)
		return exitFailed
	}
	return code
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
