package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sh/bottle/engine/docker"
	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "doctor",
		usage:   "doctor [--json] [--engine NAME] [--state DIR]",
		summary: "check that this host can run bottles: one line per need, with the fix",
		order:   5,
		run:     runDoctor,
	})
}

// finding is one line of `bottle doctor`.
type finding struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn or fail
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
)

// hostRoots is the host's CA bundle start.star gives the agent and the egress.
const hostRoots = "/etc/ssl/certs/ca-certificates.crt"

func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "write the findings as one JSON object")
	state := fs.String("state", "", "state root `DIR` to check (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	engineRef := fs.String("engine", "", "check the Docker engine `NAME` (a context or an address) instead of the default one")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle doctor [--json] [--engine NAME] [--state DIR]

Check each thing bottle needs from this host, one line each: ok, warn (bottles
start, with something missing) or fail (no bottle can start), with the fix.
It changes nothing. Exit 0 when a bottle can start, 1 when it cannot.

Flags:
`)
		printFlags(fs)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bottle doctor: unexpected argument %q\nusage: bottle %s\n", fs.Arg(0), commands["doctor"].usage)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	findings := diagnose(ctx, *engineRef, *state)
	ok := !slices.ContainsFunc(findings, func(f finding) bool { return f.Status == statusFail })
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			OK       bool      `json:"ok"`
			Findings []finding `json:"findings"`
		}{ok, findings})
	} else {
		for _, f := range findings {
			line := fmt.Sprintf("%-4s  %-9s %s", f.Status, f.Check, f.Detail)
			if f.Fix != "" {
				line += "; fix: " + f.Fix
			}
			fmt.Fprintln(stdout, line)
		}
		if ok {
			fmt.Fprintln(stdout, "bottle can start bottles here")
		} else {
			fmt.Fprintln(stdout, "bottle cannot start a bottle here until each fail above is fixed")
		}
	}
	if !ok {
		return exitFailed
	}
	return exitOK
}

// diagnose runs every check, in the order a start needs them.
func diagnose(ctx context.Context, engineRef, stateFlag string) []finding {
	var out []finding
	out = append(out, checkDaemon(ctx, engineRef)...)
	out = append(out, checkCompose(ctx)...)
	out = append(out, checkBinary(), checkState(stateFlag), checkRoots(), checkBusybox())
	return out
}

// checkDaemon checks the engine ref names ("" the default one).
func checkDaemon(ctx context.Context, ref string) []finding {
	at, err := dockerEngines().Resolve(ref)
	if err != nil {
		return []finding{{Check: "daemon", Status: statusFail, Detail: err.Error()}}
	}
	e, err := docker.Connect(ctx, at)
	if err != nil {
		// The error says how to fix it; without a daemon, the subnet pool
		// and the runtimes are unknown.
		return []finding{{Check: "daemon", Status: statusFail, Detail: err.Error()}}
	}
	defer e.Close()
	d, err := e.Daemon(ctx)
	if err != nil {
		return []finding{{Check: "daemon", Status: statusFail, Detail: err.Error(), Fix: "check that you may use the daemon's socket"}}
	}
	out := []finding{{Check: "daemon", Status: statusOK, Detail: fmt.Sprintf("Docker %s, API %s, at %s", d.Version, d.APIVersion, at)}}
	if v := d.APIVersion; v != "" && versionLess(v, "1.41") {
		out[0].Status = statusFail
		out[0].Fix = "bottle needs Docker Engine 20.10 (API 1.41) or newer: upgrade the daemon"
	}
	out = append(out, checkPool(ctx, e))
	if slices.Contains(d.Runtimes, "runsc") {
		out = append(out, finding{Check: "runsc", Status: statusOK, Detail: "gVisor's runsc is a runtime of the daemon (" + strings.Join(d.Runtimes, ", ") + ")"})
	} else {
		out = append(out, finding{Check: "runsc", Status: statusWarn,
			Detail: "gVisor's runsc is not a runtime of the daemon (it has " + strings.Join(d.Runtimes, ", ") + "): agents run under runc, sharing the host's kernel",
			Fix:    "install gVisor and register runsc with the daemon (https://gvisor.dev/docs/user_guide/install/)"})
	}
	return out
}

func checkPool(ctx context.Context, e *docker.Engine) finding {
	pool, free, err := e.SubnetRoom(ctx)
	if err != nil {
		return finding{Check: "subnets", Status: statusFail, Detail: err.Error(), Fix: fmt.Sprintf("set BOTTLE_SUBNET_POOL to a private IPv4 range of /%d or larger, like %s", docker.SubnetBits, docker.DefaultSubnetPool)}
	}
	room := free / 2 // a bottle takes two: its internal and external networks
	f := finding{Check: "subnets", Status: statusOK, Detail: fmt.Sprintf("room for %d more bottle(s): %d free /%d(s) in %s, two per bottle", room, free, docker.SubnetBits, pool)}
	switch {
	case room == 0:
		f.Status = statusFail
		f.Fix = "remove unused networks (`bottle run cleanup`, `docker network prune`) or set BOTTLE_SUBNET_POOL to a larger private range"
	case room < 3:
		f.Status = statusWarn
		f.Fix = "remove unused networks or set BOTTLE_SUBNET_POOL to a larger private range"
	}
	return f
}

func checkCompose(ctx context.Context) []finding {
	var out []finding
	for _, c := range docker.ComposeVersions(ctx) {
		f := finding{Check: "compose " + c.Name, Status: statusOK, Detail: "`" + c.Command + "` " + c.Version}
		if c.Err != nil {
			f.Status, f.Detail = statusWarn, c.Err.Error()
		}
		out = append(out, f)
	}
	cmd, err := docker.DetectCompose(ctx)
	if err != nil {
		// The error names what to install, or BOTTLE_COMPOSE to unset.
		return append(out, finding{Check: "compose", Status: statusFail, Detail: err.Error()})
	}
	return append(out, finding{Check: "compose", Status: statusOK, Detail: "bottle uses `" + strings.Join(cmd, " ") + "`"})
}

func checkBinary() finding {
	bin, err := docker.BottleBinary()
	if err == nil {
		err = docker.CheckStatic(bin)
	}
	if err != nil {
		return finding{Check: "static", Status: statusFail, Detail: err.Error(),
			Fix: "CGO_ENABLED=0 go build -o bottle ./cmd/bottle (or set BOTTLE_IMAGE_BINARY to a static bottle)"}
	}
	return finding{Check: "static", Status: statusOK, Detail: bin + " is static: the egress image is made from it, with no registry"}
}

func checkState(stateFlag string) finding {
	root, err := runtime.StateRoot(stateFlag, os.Getenv)
	if err != nil {
		return finding{Check: "state", Status: statusFail, Detail: err.Error(), Fix: "set BOTTLE_STATE_DIR or pass --state DIR"}
	}
	// The nearest directory that exists: start makes the rest.
	dir := root
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			break
		}
		if parent := filepath.Dir(dir); parent != dir {
			dir = parent
			continue
		}
		break
	}
	probe, err := os.CreateTemp(dir, ".bottle-doctor-*")
	if err != nil {
		return finding{Check: "state", Status: statusFail, Detail: fmt.Sprintf("state root %s: cannot write in %s: %v", root, dir, trimPathErr(err)),
			Fix: "make it writable, or set BOTTLE_STATE_DIR (or --state) to a directory you own"}
	}
	probe.Close()
	os.Remove(probe.Name())
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return finding{Check: "state", Status: statusWarn, Detail: fmt.Sprintf("state root %s is writable; free space unknown: %v", root, err)}
	}
	free := st.Bavail * uint64(st.Bsize)
	f := finding{Check: "state", Status: statusOK, Detail: fmt.Sprintf("state root %s is writable, %s free", root, bytesHuman(free))}
	if free < 1<<30 {
		f.Status = statusWarn
		f.Fix = "free some space there, or set BOTTLE_STATE_DIR to a roomier disk: compose.log and audit.jsonl grow with every bottle"
	}
	return f
}

func checkRoots() finding {
	data, err := os.ReadFile(hostRoots)
	if err != nil {
		return finding{Check: "ca", Status: statusWarn,
			Detail: fmt.Sprintf("no host CA bundle (%v): the agent trusts only the bottle's CA, so https to a host the egress tunnels fails, and a route that intercepts needs upstream roots", trimPathErr(err)),
			Fix:    "apt-get install ca-certificates"}
	}
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			n++
		}
	}
	if n == 0 {
		return finding{Check: "ca", Status: statusWarn, Detail: hostRoots + " holds no certificate", Fix: "apt-get install --reinstall ca-certificates"}
	}
	return finding{Check: "ca", Status: statusOK, Detail: fmt.Sprintf("%s: %d root certificate(s) for the agent and the egress", hostRoots, n)}
}

func checkBusybox() finding {
	p, err := docker.FindBusybox()
	if err != nil {
		return finding{Check: "busybox", Status: statusWarn,
			Detail: "the default bottle's agent has no shell: " + err.Error(),
			Fix:    "apt-get install busybox-static"}
	}
	return finding{Check: "busybox", Status: statusOK, Detail: p + " is static: the default agent gets a shell and everyday tools from it"}
}

// versionLess compares dotted API versions ("1.41" < "1.43").
func versionLess(a, b string) bool {
	var a1, a2, b1, b2 int
	fmt.Sscanf(a, "%d.%d", &a1, &a2)
	fmt.Sscanf(b, "%d.%d", &b1, &b2)
	return a1 < b1 || a1 == b1 && a2 < b2
}

func bytesHuman(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// trimPathErr drops the path an *os.PathError repeats.
func trimPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
