package egress

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
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
	clients := fs.String("clients", "", "serve only peers in these networks (`CIDR[,CIDR...]`); with a --listen of no host, listen only on this machine's addresses inside them")
	state := fs.String("state", "", "`DIR` the egress may write: it keeps the decision log (decisions.jsonl, rotated) and the use counts of routes with uses: (uses.json) there")
	spin := fs.Duration("spin", 200*time.Microsecond, "how long a read may poll a busy keep-alive connection before sleeping (`DURATION`; 0 never spins)")
	resolve := resolveFlag{}
	fs.Var(resolve, "resolve", "test aid: `HOST:PORT=ADDR` dials ADDR instead of resolving HOST (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: bottle egress --routes FILE [--listen ADDR] [--clients CIDR,...] [--ca DIR] [--upstream URL] [--state DIR] [--spin DURATION]
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

	var logTo io.Writer = stdout
	if *state != "" {
		// The decision log (decisions.go): every access-log line, on the
		// host too, bounded.
		dl, err := OpenRotating(filepath.Join(*state, DecisionsFile), DecisionsMax, DecisionsKeep)
		if err != nil {
			fmt.Fprintf(stderr, "bottle egress: --state: the decision log: %v\n", err)
			return exitFailed
		}
		defer dl.Close()
		logTo = io.MultiWriter(stdout, dl)
	}
	access := &BatchWriter{W: logTo, Interval: 50 * time.Millisecond}
	defer access.Flush()
	if *spin < 0 || *spin > maxSpin {
		fmt.Fprintf(stderr, "bottle egress: --spin %v: want 0 (never spin) to %v\n", *spin, maxSpin)
		return exitUsage
	}
	cfg := Config{RoutesFile: *routes, AccessLog: access, Log: stderr, Spin: *spin, StateDir: *state}
	if *clients != "" {
		ps, err := parseClients(*clients)
		if err != nil {
			fmt.Fprintf(stderr, "bottle egress: --clients %q: %v\n", *clients, err)
			return exitUsage
		}
		cfg.Clients = normalizePrefixes(ps)
	}
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
		cfg.Resolve = func(hostport string) string {
			if to, ok := resolve[hostport]; ok {
				return to
			}
			return hostport
		}
	}

	// Signals first, so a SIGHUP sent as soon as the routes are loaded is
	// not lost (or fatal).
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)

	lns, err := listenFor(*listen, cfg.Clients)
	if err != nil {
		fmt.Fprintf(stderr, "bottle egress: %v\n", err)
		return exitFailed
	}
	p, err := New(cfg)
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

// parseClients parses --clients: CIDRs separated by commas.
func parseClients(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		pr, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a network in CIDR form (10.213.0.0/16)", strings.TrimSpace(f))
		}
		ps = append(ps, pr)
	}
	return ps, nil
}

// listenFor opens the proxy's listeners. With clients, a listen address of
// no host (":3128") becomes one listener per address of this machine
// inside clients: the egress then does not even listen on its external
// network, where the host and other containers reach it.
func listenFor(addr string, clients []netip.Prefix) ([]net.Listener, error) {
	addrs := []string{addr}
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" && len(clients) > 0 {
		own, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("--clients: listing this machine's addresses: %v", err)
		}
		if addrs, err = clientAddrs(port, clients, own); err != nil {
			return nil, err
		}
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// clientAddrs is host:port for each of own inside clients, or an error
// naming both when none is.
func clientAddrs(port string, clients []netip.Prefix, own []net.Addr) ([]string, error) {
	var addrs, have []string
	for _, a := range own {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipnet.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		have = append(have, ip.String())
		for _, pr := range clients {
			if pr.Contains(ip) {
				addrs = append(addrs, net.JoinHostPort(ip.String(), port))
				break
			}
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--clients %s: no address of this machine is inside them (it has %s); give --listen HOST:PORT, or the network this container is on", prefixList(clients), strings.Join(have, ", "))
	}
	return addrs, nil
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
