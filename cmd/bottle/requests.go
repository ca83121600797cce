package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "requests",
		usage:   "requests [--all] [--json] [--state DIR] [SLUG]",
		summary: "access requests waiting for the operator: what agents asked for and were denied",
		order:   37,
		run:     runRequests,
	})
	register(command{
		name:    "approve",
		usage:   "approve [--for DURATION] [--uses N] [--permanent] [--paths P,...] [--methods M,...] [--private] [--reason TEXT] [--state DIR] ID",
		summary: "grant an access request (runs the approve recipe)",
		order:   38,
		run:     runApprove,
	})
	register(command{
		name:    "deny",
		usage:   "deny [--reason TEXT] [--state DIR] ID",
		summary: "refuse an access request (runs the deny recipe)",
		order:   39,
		run:     runDeny,
	})
}

type slugRequest struct {
	Slug string `json:"slug"`
	egress.AccessRequest
}

// allRequests reads the requests of every bottle under root (or of slug).
func allRequests(root, slug string) ([]slugRequest, error) {
	var slugs []string
	if slug != "" {
		if _, err := os.Stat(filepath.Join(root, slug)); err != nil {
			return nil, fmt.Errorf("no bottle %q under %s (`bottle ls` lists them)", slug, root)
		}
		slugs = []string{slug}
	} else {
		dirs, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, d := range dirs {
			if d.IsDir() && slugRe.MatchString(d.Name()) {
				slugs = append(slugs, d.Name())
			}
		}
	}
	var out []slugRequest
	for _, s := range slugs {
		rs, err := egress.ReadRequests(filepath.Join(root, s, egressDir))
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out = append(out, slugRequest{Slug: s, AccessRequest: r})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out, nil
}

func runRequests(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "also the requests already approved or denied")
	asJSON := fs.Bool("json", false, "one JSON object per request, a line each")
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle requests [--all] [--json] [--state DIR] [SLUG]

List the access requests waiting for the operator, of every bottle (or of
SLUG), the most recent first: what an agent asked for (kind asked, with its
reason) and what it was denied (kind denied, one per host, method and path
prefix, with the deny's reason and a count). Answer with bottle approve ID
or bottle deny ID.

Flags:
`)
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "bottle requests: at most one SLUG\nusage: bottle %s\n", commands["requests"].usage)
		return exitUsage
	}
	root, err := runtime.StateRoot(*state, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle requests: %v\n", err)
		return exitUsage
	}
	rs, err := allRequests(root, fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "bottle requests: %v\n", err)
		return exitFailed
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "%-12s %-20s %-7s %-9s %-30s %-12s %-12s %5s %-20s %s\n", "ID", "BOTTLE", "KIND", "STATUS", "HOST", "METHODS", "PATHS", "COUNT", "LAST", "REASON")
	}
	enc := json.NewEncoder(stdout)
	for _, r := range rs {
		if !*all && r.Status != "pending" {
			continue
		}
		if *asJSON {
			enc.Encode(r)
			continue
		}
		fmt.Fprintf(stdout, "%-12s %-20s %-7s %-9s %-30s %-12s %-12s %5d %-20s %s\n", plain(r.ID), r.Slug, plain(r.Kind), plain(r.Status), plain(r.Host),
			plain(orAll(r.Methods)), plain(orAll(r.Paths)), r.Count, r.Last.UTC().Format(time.RFC3339), strconv.Quote(r.Reason))
	}
	return exitOK
}

// plain is s as printed to the operator's terminal: quoted when it holds
// anything but printable ASCII (requests.json is the egress's, made of
// what the agent sent).
func plain(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r >= 0x7f }) >= 0 {
		return strconv.QuoteToASCII(s)
	}
	return s
}

func orAll(xs []string) string {
	if len(xs) == 0 {
		return "*"
	}
	return strings.Join(xs, ",")
}

// slugOf finds the bottle whose egress holds request id.
func slugOf(root, id string) (string, error) {
	rs, err := allRequests(root, "")
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.ID == id {
			return r.Slug, nil
		}
	}
	return "", fmt.Errorf("no request %q under %s (`bottle requests` lists them)", id, root)
}

func runApprove(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("approve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dur := fs.String("for", "", "the grant ends after `DURATION` (30s, 10m, 2h)")
	uses := fs.Int("uses", 0, "the grant allows `N` requests")
	permanent := fs.Bool("permanent", false, "the grant does not end")
	paths := fs.String("paths", "", "allow these path prefixes (`P,...`) instead of the request's")
	methods := fs.String("methods", "", "allow these methods (`M,...`) instead of the request's")
	reason := fs.String("reason", "", "a note for the agent and the audit log (`TEXT`)")
	private := fs.Bool("private", false, "the host may be at a private or other special-purpose address (the route's private: true); for the operator's own networks")
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle approve [--for DURATION] [--uses N] [--permanent] [--paths P,...] [--methods M,...] [--private] [--reason TEXT] [--state DIR] ID

Grant access request ID (bottle requests lists them): its host, with the
paths and methods asked for (or --paths, --methods), becomes a route of the
bottle's egress that ends after --for and/or --uses, or never
(--permanent). Runs the approve recipe: locked, checked, written in place,
the egress reloads and confirms, audited with the request, its reason,
your note and the expiry. The agent sees the answer (request_status).

Flags:
`)
		fs.PrintDefaults()
	}
	pos, code, done := parseInterspersed(fs, args, stdout)
	if done {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "bottle approve: want one request ID\nusage: bottle %s\n", commands["approve"].usage)
		return exitUsage
	}
	g := grant{For: *dur, Uses: *uses, Permanent: *permanent, Paths: *paths, Methods: *methods, Reason: *reason, Private: *private}
	kv, err := g.recipeArgs()
	if err != nil {
		fmt.Fprintf(stderr, "bottle approve: %v\n", err)
		return exitUsage
	}
	return runAnswer("approve", pos[0], *state, kv, stdout, stderr)
}

// grant is how an operator approves a request: bottle approve's flags,
// and the approve form of bottle ui.
type grant struct {
	For       string // a Go duration; "" for none
	Uses      int    // 0 for none
	Permanent bool
	Paths     string // comma-separated; "" for the request's
	Methods   string // comma-separated; "" for the request's
	Reason    string
	Private   bool
}

// recipeArgs are g as approve.star's KEY=VALUE arguments. The recipe
// checks the rest (one of duration, uses or permanent; not permanent with
// the others).
func (g grant) recipeArgs() ([]string, error) {
	if g.Uses < 0 {
		return nil, fmt.Errorf("--uses %d: a grant allows at least 1 request", g.Uses)
	}
	kv := []string{}
	if g.For != "" {
		if d, err := time.ParseDuration(g.For); err != nil || d <= 0 {
			return nil, fmt.Errorf("--for %q: want a positive duration (30s, 10m, 2h)", g.For)
		}
		kv = append(kv, "duration="+g.For)
	}
	if g.Uses > 0 {
		kv = append(kv, "uses="+strconv.Itoa(g.Uses))
	}
	if g.Permanent {
		kv = append(kv, "permanent=1")
	}
	if g.Paths != "" {
		kv = append(kv, "paths="+g.Paths)
	}
	if g.Methods != "" {
		kv = append(kv, "methods="+g.Methods)
	}
	if g.Reason != "" {
		kv = append(kv, "reason="+g.Reason)
	}
	if g.Private {
		kv = append(kv, "private=1")
	}
	return kv, nil
}

func runDeny(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deny", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reason := fs.String("reason", "", "why, for the agent and the audit log (`TEXT`)")
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle deny [--reason TEXT] [--state DIR] ID

Refuse access request ID (bottle requests lists them). Runs the deny recipe:
the answer is written for the egress, which reloads and confirms; audited
with the request and the reason. The agent sees "denied" and the reason.

Flags:
`)
		fs.PrintDefaults()
	}
	pos, code, done := parseInterspersed(fs, args, stdout)
	if done {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "bottle deny: want one request ID\nusage: bottle %s\n", commands["deny"].usage)
		return exitUsage
	}
	var kv []string
	if *reason != "" {
		kv = append(kv, "reason="+*reason)
	}
	return runAnswer("deny", pos[0], *state, kv, stdout, stderr)
}

// runAnswer runs recipe (approve or deny) for request id, in the bottle
// that holds it.
func runAnswer(recipe, id, state string, kv []string, stdout, stderr io.Writer) int {
	root, err := runtime.StateRoot(state, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle %s: %v\n", recipe, err)
		return exitUsage
	}
	slug, err := slugOf(root, id)
	if err != nil {
		fmt.Fprintf(stderr, "bottle %s: %v\n", recipe, err)
		return exitUsage
	}
	run := []string{"run", "--state", root, recipe, "slug=" + slug, "id=" + id}
	return bottleMain(append(run, kv...), stdout, stderr)
}

// parseInterspersed parses flags before and after the positional
// arguments (bottle approve ID --for 5m), and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string, stdout io.Writer) (pos []string, code int, done bool) {
	for {
		if code, done := parseFlags(fs, args, stdout); done {
			return nil, code, true
		}
		if fs.NArg() == 0 {
			return pos, 0, false
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
