package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "ui",
		usage:   "ui [--listen HOST:PORT] [--state DIR]",
		summary: "a web page to watch every bottle and answer its agent's requests",
		order:   40,
		run:     runUI,
	})
}

const uiHelp = `Usage: bottle ui [--listen HOST:PORT] [--state DIR]

Serve the operator's web UI and print the address to open, with a token
(http://127.a.b.c:PORT/?token=...). The page lists every bottle (status
from the engine, age, services, routes, pending requests) with start, stop
and restart buttons; a bottle's page shows its decisions as they happen,
its routes, its audit history with diffs, and its pending requests with
approve and deny. Every button runs the same recipe the CLI runs and shows
its step lines as they come.

It listens on loopback only, unless --listen says otherwise (then it warns:
anyone who can reach the address and has the token controls your bottles,
and plain HTTP is readable on the way). On Linux its default address is one
of its own in 127.0.0.0/8 (say 127.83.20.117): browsers keep a cookie per
host name, not per port, so its session cookie is not sent to the servers
on 127.0.0.1 or localhost that you browse to. The token is exchanged for a
cookie on the first visit; every change needs that cookie, a same-origin
request and the page's own form token. Stop it with Ctrl-C: recipes it is
running are interrupted and rolled back, as the CLI's are.

Flags:
`

func runUI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "serve on `HOST:PORT` (port 0: a free one; default: a free port on a loopback address of its own on Linux, else on 127.0.0.1)")
	stateRoot := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), uiHelp)
		printFlags(fs)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bottle ui: unexpected argument %q\nusage: bottle %s\n", fs.Arg(0), commands["ui"].usage)
		return exitUsage
	}
	root, err := runtime.StateRoot(*stateRoot, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle ui: %v\n", err)
		return exitUsage
	}
	if err := trustedStateRoot(root); err != nil {
		fmt.Fprintf(stderr, "bottle ui: %v\n", err)
		return exitFailed
	}
	var ln net.Listener
	if *listen == "" {
		if ln, err = listenLoopback(); err != nil {
			fmt.Fprintf(stderr, "bottle ui: %v (name an address with --listen HOST:PORT)\n", err)
			return exitFailed
		}
	} else {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			fmt.Fprintf(stderr, "bottle ui: --listen %q: want HOST:PORT, e.g. 127.0.0.1:8080\n", *listen)
			return exitUsage
		}
		if ln, err = net.Listen("tcp", *listen); err != nil {
			fmt.Fprintf(stderr, "bottle ui: --listen %s: %v\n", *listen, err)
			return exitFailed
		}
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	if *listen != "" {
		host, _, _ = net.SplitHostPort(*listen) // as given: "localhost", or "" for every address
	}
	if !isLoopback(host) {
		fmt.Fprintf(stderr, "bottle ui: WARNING: listening on %s, which is not loopback: anyone who reaches it with the token controls your bottles, and plain HTTP can be read on the way\n", ln.Addr())
	}
	token := randomHex(32)
	srv := newUIServer(root, ln.Addr().String(), host, token)
	fmt.Fprintf(stdout, "bottle ui: serving the bottles under %s\nopen http://%s/?token=%s\n", root, openAddr(ln.Addr().String()), token)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := uiHTTPServer(srv, ctx)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(shut)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "bottle ui: %v\n", err)
		return exitFailed
	}
	srv.jobs.wait() // recipes it started roll back on the same signal
	return exitOK
}

// listenLoopback listens on a free port of a loopback address of the UI's
// own: on Linux every address in 127.0.0.0/8 is the host's loopback, and
// browsers keep cookies per host name, not per port, so the session cookie
// of 127.a.b.c is not sent to another local user's server on 127.0.0.1 or
// localhost that the operator browses to. Elsewhere (macOS has only
// 127.0.0.1 on lo0), or if that address will not take it, 127.0.0.1.
func listenLoopback() (net.Listener, error) {
	if goruntime.GOOS == "linux" {
		b := make([]byte, 3)
		rand.Read(b)
		ip := net.IPv4(127, 1+b[0]%254, b[1], 1+b[2]%254) // not 127.0.x.x, not .0 or .255 last
		if ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0")); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// openAddr is the address to print for a browser: the listen address, or
// loopback with its port when it listens on every address ([::] is no
// place to open).
func openAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// uiIdle is how long the UI keeps a connection that sends no next request.
var uiIdle = 2 * time.Minute

// uiHTTPServer serves h with timeouts on a connection that sends nothing:
// one without its request's headers, and one kept alive after a request
// (any local user can open those; without a bound each would stay open).
func uiHTTPServer(h http.Handler, ctx context.Context) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: uiIdle,
		BaseContext: func(net.Listener) context.Context { return ctx }}
}

// isLoopback reports whether the listen host is a loopback address or
// localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// randomHex is n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
