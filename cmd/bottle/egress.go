package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/egress/routes"
)

func init() {
	register(command{
		name:    "egress",
		usage:   "egress --routes FILE [--listen ADDR] [--clients CIDR,...] [--ca DIR] [--upstream URL] [--state DIR] | egress --check FILE",
		summary: "run the egress proxy sidecar, or check a routes file",
		order:   60,
		run:     egressMain,
	})
}

// egressDrain bounds how long SIGTERM waits for requests and tunnels in
// flight before closing them: Docker sends SIGKILL after 10s by default.
const egressDrain = 3 * time.Second

// egressFlags are `bottle egress`'s flags.
type egressFlags struct {
	routes, listen, ca, upstream, check, clients, state string
	resolve                                             resolveFlag
}

func (f *egressFlags) register(fs *flag.FlagSet, stderr io.Writer) {
	fs.StringVar(&f.routes, "routes", "", "routes `FILE` (re-read on SIGHUP)")
	fs.StringVar(&f.listen, "listen", ":3128", "`ADDR` to listen on")
	fs.StringVar(&f.ca, "ca", "", "`DIR` holding the CA (ca.crt and ca.key) that signs intercepted hosts' certificates")
	fs.StringVar(&f.upstream, "upstream", "", "next proxy `URL` (http://host:port) for allowed traffic")
	fs.StringVar(&f.check, "check", "", "validate routes `FILE` and exit: 0 valid, 1 invalid")
	fs.StringVar(&f.state, "state", "", "`DIR` the egress may write: it keeps the decision log (decisions.jsonl, rotated) and the use counts of routes with uses: (uses.json) there")
	fs.StringVar(&f.clients, "clients", "", "serve only peers in these networks (`CIDR[,CIDR...]`); with a --listen of no host, listen only on this machine's addresses inside them")
	f.resolve = resolveFlag{}
	fs.Var(f.resolve, "resolve", "test aid: `HOST:PORT=ADDR` dials ADDR instead of resolving HOST (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: bottle egress --routes FILE [--listen ADDR] [--clients CIDR,...] [--ca DIR] [--upstream URL] [--state DIR]
       bottle egress --check FILE

The egress sidecar: an HTTP proxy (absolute-form requests and CONNECT) that
lets through only what the routes file allows, intercepting TLS only for
routes with paths, methods or inject. SIGHUP re-reads the routes file (a bad
or partly written file is rejected and the old routes stay); SIGTERM drains
and exits 0. Access log: one JSON line per request on stdout; status lines
("egress: loaded N route(s)") on stderr.

`)
		fs.PrintDefaults()
	}
}

// egressMain is `bottle egress`: it parses args (without the subcommand
// name), runs the proxy until SIGTERM or SIGINT, re-reads the routes on
// SIGHUP, and returns the exit code.
func egressMain(args []string, stdout, stderr io.Writer) int {
	var f egressFlags
	fs := flag.NewFlagSet("egress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bottle egress: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if f.check != "" {
		return egressCheck(f, stdout, stderr)
	}
	if f.routes == "" {
		fmt.Fprintln(stderr, "bottle egress: --routes FILE is required (or --check FILE)")
		return exitUsage
	}
	// The decision log (egress/decisions.go): every access-log line, on
	// the host too, bounded.
	logTo, closeLog, err := decisionLog(f.state, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "bottle egress: --state: the decision log: %v\n", err)
		return exitFailed
	}
	defer closeLog()
	access := &egress.BatchWriter{W: logTo, Interval: 50 * time.Millisecond}
	defer access.Flush()
	cfg, code := f.config(stderr)
	if code != exitOK {
		return code
	}
	cfg.AccessLog, cfg.Log = access, stderr
	// Idle, the egress holds only what waiting takes: once started, and
	// after each spell of connections (egress.Config.AtRest), it hands
	// back the memory it took, and it stops the collector until the next
	// connection: the runtime would otherwise collect every two minutes,
	// mapping back the pages that atRest dropped. Nothing allocates while
	// no connection is open.
	gc := debug.SetGCPercent(-1) // GOGC as set: read it, and put it back
	debug.SetGCPercent(gc)
	cfg.AtRest = func() { // once more after a reload at rest, which made garbage
		atRest() // an error: the kernel keeps the pages mapped
		debug.SetGCPercent(-1)
	}
	cfg.Woken = func() { debug.SetGCPercent(gc) }
	return egressServe(cfg, f.listen, stderr)
}

// decisionLog is where a sidecar's decision lines go: stdout and, with a
// state dir, its decisions.jsonl, rotated (egress.RotatingFile).
func decisionLog(state string, stdout io.Writer) (io.Writer, func(), error) {
	if state == "" {
		return stdout, func() {}, nil
	}
	dl, err := egress.OpenRotating(filepath.Join(state, egress.DecisionsFile), egress.DecisionsMax, egress.DecisionsKeep)
	if err != nil {
		return nil, nil, err
	}
	return io.MultiWriter(stdout, dl), func() { dl.Close() }, nil
}

// egressCheck is --check: validate a routes file and exit.
func egressCheck(f egressFlags, stdout, stderr io.Writer) int {
	if f.routes != "" {
		fmt.Fprintln(stderr, "bottle egress: give --check or --routes, not both")
		return exitUsage
	}
	rs, err := routes.ReadFile(f.check)
	if err != nil {
		fmt.Fprintf(stderr, "bottle egress: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: %d route(s)\n", f.check, rs.Len())
	return exitOK
}

// config is the proxy's Config from the flags, or an exit code other than
// exitOK when they are wrong.
func (f egressFlags) config(stderr io.Writer) (egress.Config, int) {
	cfg := egress.Config{RoutesFile: f.routes, StateDir: f.state}
	if f.clients != "" {
		ps, err := egress.ParseClients(f.clients)
		if err != nil {
			fmt.Fprintf(stderr, "bottle egress: --clients %q: %v\n", f.clients, err)
			return cfg, exitUsage
		}
		cfg.Clients = routes.NormalizePrefixes(ps)
	}
	if f.ca != "" {
		ca, err := egress.LoadCA(f.ca)
		if err != nil {
			fmt.Fprintf(stderr, "bottle egress: %v\n", err)
			return cfg, exitFailed
		}
		cfg.CA = ca
	}
	if f.upstream != "" {
		u, err := url.Parse(f.upstream)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			fmt.Fprintf(stderr, "bottle egress: --upstream %q: want http://host:port\n", f.upstream)
			return cfg, exitUsage
		}
		cfg.Upstream = u
	}
	if len(f.resolve) > 0 {
		cfg.Resolve = func(hostport string) string {
			if to, ok := f.resolve[hostport]; ok {
				return to
			}
			return hostport
		}
	}
	return cfg, exitOK
}

// egressServe runs the proxy on its listeners until a signal stops it.
func egressServe(cfg egress.Config, listen string, stderr io.Writer) int {
	// Signals first, so a SIGHUP sent as soon as the routes are loaded is
	// not lost (or fatal).
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)

	lns, err := egress.Listen(listen, cfg.Clients)
	if err != nil {
		fmt.Fprintf(stderr, "bottle egress: %v\n", err)
		return exitFailed
	}
	p, err := egress.New(cfg)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		fmt.Fprintf(stderr, "bottle egress: %v\n", err)
		return exitFailed
	}
	served := make(chan error, len(lns))
	for _, ln := range lns {
		fmt.Fprintf(stderr, "egress: listening on %s\n", ln.Addr())
		go func() { served <- p.Serve(ln) }()
	}
	for {
		select {
		case err := <-served:
			fmt.Fprintf(stderr, "bottle egress: %v\n", err)
			return exitFailed
		case s := <-sig:
			if s == syscall.SIGHUP {
				p.Reload() // logs its own outcome
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), egressDrain)
			err := p.Shutdown(ctx)
			cancel()
			if err != nil {
				fmt.Fprintf(stderr, "egress: stopped on %v; closed connections still busy after %v\n", s, egressDrain)
			} else {
				fmt.Fprintf(stderr, "egress: stopped on %v\n", s)
			}
			return exitOK
		}
	}
}

// resolveFlag maps "host:port" to the address to dial instead.
type resolveFlag map[string]string

func (r resolveFlag) String() string { return "" }

func (r resolveFlag) Set(v string) error {
	from, to, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want HOST:PORT=ADDR")
	}
	if _, _, err := net.SplitHostPort(from); err != nil {
		return fmt.Errorf("%q: %v", from, err)
	}
	if _, _, err := net.SplitHostPort(to); err != nil {
		return fmt.Errorf("%q: %v", to, err)
	}
	r[from] = to
	return nil
}
