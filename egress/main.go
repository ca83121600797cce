package egress

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
	"strings"
	"syscall"
	"time"
)

// Exit codes of Main, as bottle's CLI uses them.
const (
	exitOK     = 0
	exitFailed = 1 // invalid routes file, or the proxy could not start
	exitUsage  = 2
)

// drainTimeout bounds how long SIGTERM waits for requests and tunnels in
// flight before closing them: Docker sends SIGKILL after 10s by default.
const drainTimeout = 3 * time.Second

// Main is `bottle egress`: it parses args (without the subcommand name),
// runs the proxy until SIGTERM or SIGINT, re-reads the routes on SIGHUP,
// and returns the exit code. It lives here rather than in cmd/bottle so the
// tests can run it as a real process (the test binary re-executing itself).
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("egress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	routes := fs.String("routes", "", "routes `FILE` (re-read on SIGHUP)")
	listen := fs.String("listen", ":3128", "`ADDR` to listen on")
	caDir := fs.String("ca", "", "`DIR` holding the CA (ca.crt and ca.key) that signs intercepted hosts' certificates")
	upstream := fs.String("upstream", "", "next proxy `URL` (http://host:port) for allowed traffic")
	check := fs.String("check", "", "validate routes `FILE` and exit: 0 valid, 1 invalid")
	spin := fs.Duration("spin", 200*time.Microsecond, "how long a read may poll a busy keep-alive connection before sleeping (`DURATION`; 0 never spins)")
	resolve := resolveFlag{}
	fs.Var(resolve, "resolve", "test aid: `HOST:PORT=ADDR` dials ADDR instead of resolving HOST (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: bottle egress --routes FILE [--listen ADDR] [--ca DIR] [--upstream URL] [--spin DURATION]
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
	if *check != "" {
		if *routes != "" {
			fmt.Fprintln(stderr, "bottle egress: give --check or --routes, not both")
			return exitUsage
		}
		rs, err := ReadRoutesFile(*check)
		if err != nil {
			fmt.Fprintf(stderr, "bottle egress: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "%s: %d route(s)\n", *check, rs.Len())
		return exitOK
	}
	if *routes == "" {
		fmt.Fprintln(stderr, "bottle egress: --routes FILE is required (or --check FILE)")
		return exitUsage
	}

	access := &BatchWriter{W: stdout, Interval: 50 * time.Millisecond}
	defer access.Flush()
	if *spin < 0 || *spin > maxSpin {
		fmt.Fprintf(stderr, "bottle egress: --spin %v: want 0 (never spin) to %v\n", *spin, maxSpin)
		return exitUsage
	}
	cfg := Config{RoutesFile: *routes, AccessLog: access, Log: stderr, Spin: *spin}
	if *caDir != "" {
		ca, err := LoadCA(*caDir)
		if err != nil {
			fmt.Fprintf(stderr, "bottle egress: %v\n", err)
			return exitFailed
		}
		cfg.CA = ca
	}
	if *upstream != "" {
		u, err := url.Parse(*upstream)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			fmt.Fprintf(stderr, "bottle egress: --upstream %q: want http://host:port\n", *upstream)
			return exitUsage
		}
		cfg.Upstream = u
	}
	if len(resolve) > 0 {
		d := &net.Dialer{Timeout: 15 * time.Second}
		cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if to, ok := resolve[addr]; ok {
				addr = to
			}
			return d.DialContext(ctx, network, addr)
		}
	}

	// Signals first, so a SIGHUP sent as soon as the routes are loaded is
	// not lost (or fatal).
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "bottle egress: %v\n", err)
		return exitFailed
	}
	p, err := New(cfg)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "bottle egress: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "egress: listening on %s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
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
			ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			err := p.Shutdown(ctx)
			cancel()
			if err != nil {
				fmt.Fprintf(stderr, "egress: stopped on %v; closed connections still busy after %v\n", s, drainTimeout)
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
