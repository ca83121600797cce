package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/egress/routes"
	"github.com/bottle-sh/bottle/gitgate"
	"github.com/bottle-sh/bottle/gitgate/policy"
)

func init() {
	register(command{
		name:    "git-gate",
		usage:   "git-gate --clients CIDR --policy FILE [--listen PORT] [--key FILE] [--known-hosts FILE] [--state DIR] [--audit FILE] | git-gate --check FILE",
		summary: "run the git gate sidecar, or check a git policy file",
		order:   61,
		run:     gitGateMain,
	})
}

// gitGateFlags are `bottle git-gate`'s flags.
type gitGateFlags struct {
	clients, policy, listen, key, knownHosts, state, audit, check string
}

func (f *gitGateFlags) register(fs *flag.FlagSet, stderr io.Writer) {
	fs.StringVar(&f.clients, "clients", "", "serve only peers in these networks (`CIDR[,CIDR...]`), listening only on this machine's addresses inside them")
	fs.StringVar(&f.policy, "policy", "/run/bottle/git/policy.yaml", "policy `FILE` (re-read on SIGHUP)")
	fs.StringVar(&f.listen, "listen", "8418", "`PORT` (or HOST:PORT) to listen on")
	fs.StringVar(&f.key, "key", "/run/bottle/git/key", "SSH private key `FILE` for ssh upstreams")
	fs.StringVar(&f.knownHosts, "known-hosts", "/run/bottle/git/known_hosts", "known_hosts `FILE`; an upstream whose host key is not in it is refused")
	fs.StringVar(&f.state, "state", "", "`DIR` for the decision log (decisions.jsonl, rotated)")
	fs.StringVar(&f.audit, "audit", "", "audit.jsonl `FILE` each push decision is appended to")
	fs.StringVar(&f.check, "check", "", "validate policy `FILE` and exit: 0 valid, 1 invalid")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: bottle git-gate --clients CIDR --policy FILE [--listen PORT] [--key FILE]
                      [--known-hosts FILE] [--state DIR] [--audit FILE]
       bottle git-gate --check FILE

The git gate sidecar: git smart HTTP for the agent at /<remote name>/
(fetch by protocol v0 or v2, push by receive-pack), proxied to each
remote's upstream over SSH with the gate's key or over HTTPS with a token
from the gate's environment. A push is decided ref by ref against the
policy (push patterns, force, delete, tags, max_push, secret scan) before
anything reaches the upstream. SIGHUP re-reads the policy: stdout gets
{"event":"policy_reload","hash":...} or, for a bad file that is not taken,
{"event":"policy_refused",...}. Every fetch and push decision is a JSON
line on stdout (and in --state's decisions.jsonl). SIGTERM exits 0.

`)
		fs.PrintDefaults()
	}
}

func gitGateMain(args []string, stdout, stderr io.Writer) int {
	var f gitGateFlags
	fs := flag.NewFlagSet("git-gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bottle git-gate: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if f.check != "" {
		p, err := policy.ReadFile(f.check)
		if err != nil {
			fmt.Fprintf(stderr, "bottle git-gate: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "%s: %d remote(s)\n", f.check, len(p.Remotes))
		return exitOK
	}
	cfg, listen, code := f.config(stderr)
	if code != exitOK {
		return code
	}
	records, closeLog, err := decisionLog(f.state, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "bottle git-gate: --state: the decision log: %v\n", err)
		return exitFailed
	}
	defer closeLog()
	cfg.Records, cfg.Log = records, stderr
	return gitGateServe(cfg, listen, stderr)
}

// config is the gate's Config and listen address from the flags.
func (f gitGateFlags) config(stderr io.Writer) (gitgate.Config, string, int) {
	cfg := gitgate.Config{PolicyFile: f.policy, KeyFile: f.key, KnownHostsFile: f.knownHosts, AuditFile: f.audit}
	if f.clients == "" {
		fmt.Fprintln(stderr, "bottle git-gate: --clients CIDR is required: the gate serves only the bottle's internal network")
		return cfg, "", exitUsage
	}
	ps, err := egress.ParseClients(f.clients)
	if err != nil {
		fmt.Fprintf(stderr, "bottle git-gate: --clients %q: %v\n", f.clients, err)
		return cfg, "", exitUsage
	}
	cfg.Clients = routes.NormalizePrefixes(ps)
	listen := f.listen
	if _, _, err := net.SplitHostPort(listen); err != nil {
		listen = ":" + listen
	}
	return cfg, listen, exitOK
}

// gitGateServe runs the gate until SIGTERM or SIGINT; SIGHUP reloads.
func gitGateServe(cfg gitgate.Config, listen string, stderr io.Writer) int {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	g, err := gitgate.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bottle git-gate: %v\n", err)
		return exitFailed
	}
	lns, err := egress.Listen(listen, cfg.Clients)
	if err != nil {
		fmt.Fprintf(stderr, "bottle git-gate: %v\n", err)
		return exitFailed
	}
	served := make(chan error, len(lns))
	for _, ln := range lns {
		fmt.Fprintf(stderr, "git-gate: listening on %s (%d remote(s))\n", ln.Addr(), len(g.Policy().Remotes))
		go func() { served <- g.Serve(ln) }()
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for {
		select {
		case err := <-served:
			fmt.Fprintf(stderr, "bottle git-gate: %v\n", err)
			return exitFailed
		case s := <-sig:
			if s == syscall.SIGHUP {
				_ = g.Reload() // prints its own outcome
				continue
			}
			fmt.Fprintf(stderr, "git-gate: stopped on %v\n", s)
			return exitOK
		}
	}
}
