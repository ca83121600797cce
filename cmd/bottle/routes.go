package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/egress/routes"
	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "routes",
		usage:   "routes check [--json] [--state DIR] [-H 'NAME: VALUE']... (SLUG | FILE) METHOD URL",
		summary: "what a bottle's egress would decide for a request, without sending it",
		order:   35,
		run:     runRoutes,
	})
}

// Where a bottle keeps its routes and its egress's state, under its state
// directory (recipes/lib/routes.star and spec.star write them).
const (
	liveRoutes = "live-config/routes.yaml"
	egressDir  = "egress"
)

var slugRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func runRoutes(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "suggest" {
		return runRoutesSuggest(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return runRoutesCheck(args, stdout, stderr)
		}
		fmt.Fprintf(stderr, "bottle routes: want a subcommand: check or suggest\nusage: bottle %s\n", commands["routes"].usage)
		return exitUsage
	}
	return runRoutesCheck(args[1:], stdout, stderr)
}

type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q: want 'NAME: VALUE'", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func runRoutesCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routes check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the verdict as one JSON object")
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	header := headerFlag{}
	fs.Var(header, "H", "a request header, `'NAME: VALUE'` (repeatable; only names matter to the rules)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle routes check [--json] [--state DIR] [-H 'NAME: VALUE']... (SLUG | FILE) METHOD URL

Print what the egress would decide for METHOD URL with the routes of the
bottle SLUG (its live routes.yaml, and the use counts its egress keeps) or
of the routes FILE: allow or deny and why, the route that matched,
whether https is tunnelled or intercepted, and the names of the headers
it would inject. Nothing is sent; the decision is the egress's own code.
What only the running egress knows (the address a name resolves to, whether
an injected variable is set) is listed as not checked. CONNECT with an
https URL asks about the tunnel alone. Exit status: 0 allow, 1 deny, 2 usage.

bottle routes suggest [--state DIR] SLUG prints the routes that would have
allowed the bottle's pending denied requests, for review; it changes nothing.

Flags:
`)
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() != 3 {
		fmt.Fprintf(stderr, "bottle routes check: want (SLUG | FILE) METHOD URL, got %d argument(s)\nusage: bottle %s\n", fs.NArg(), commands["routes"].usage)
		return exitUsage
	}
	where, method, u := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	rs, used, err := routesOf(where, *state)
	if err != nil {
		fmt.Fprintf(stderr, "bottle routes check: %v\n", err)
		return exitUsage
	}
	v, err := egress.Decide(rs, egress.Query{Method: method, URL: u, Header: http.Header(header), Used: func(r *routes.Route) int { return used[egress.GrantKey(r)] }})
	if err != nil {
		fmt.Fprintf(stderr, "bottle routes check: URL %q: %v (want http://HOST[:PORT]/PATH or https://...)\n", u, err)
		return exitUsage
	}
	if *asJSON {
		printVerdictJSON(stdout, v, used)
	} else {
		printVerdict(stdout, strings.ToUpper(method), v, used)
	}
	if !v.Allow {
		return exitFailed
	}
	return exitOK
}

// routesOf reads the routes of where, a routes file or a bottle's slug,
// and the use counts of that bottle's egress (none for a file).
func routesOf(where, state string) (*routes.Routes, map[string]int, error) {
	if st, err := os.Stat(where); err == nil && !st.IsDir() || strings.ContainsAny(where, "/.") {
		rs, err := routes.ReadFile(where)
		return rs, map[string]int{}, err
	}
	if !slugRe.MatchString(where) {
		return nil, nil, fmt.Errorf("%q is neither a routes file nor a bottle slug (`bottle ls` lists them)", where)
	}
	root, err := runtime.StateRoot(state, os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(root, where)
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("no bottle %q under %s (`bottle ls` lists them; give a routes file to check one)", where, root)
	}
	rs, err := routes.ReadFile(filepath.Join(dir, liveRoutes))
	if err != nil {
		return nil, nil, err
	}
	used, err := egress.ReadUseCounts(filepath.Join(dir, egressDir, egress.UsesFile))
	return rs, used, err
}

func printVerdict(w io.Writer, method string, v egress.Verdict, used map[string]int) {
	if v.Allow {
		fmt.Fprintf(w, "allow %s %s://%s%s\n", method, scheme(v), hostPort(v), v.Path)
	} else {
		fmt.Fprintf(w, "deny  %s %s://%s%s: %s\n", method, scheme(v), hostPort(v), v.Path, v.Reason)
	}
	if r := v.Route; r != nil {
		fmt.Fprintf(w, "route: %s (line %d)\n", r.Host, r.Line)
		if !r.Expires.IsZero() {
			fmt.Fprintf(w, "expires: %s\n", r.Expires.UTC().Format(time.RFC3339))
		}
		if r.Uses > 0 {
			fmt.Fprintf(w, "uses: %d of %d used\n", used[egress.GrantKey(r)], r.Uses)
		}
	} else {
		fmt.Fprintln(w, "route: none")
	}
	fmt.Fprintf(w, "mode: %s\n", v.Mode)
	if len(v.Inject) > 0 {
		fmt.Fprintf(w, "inject: %s\n", strings.Join(v.Inject, ", "))
	}
	for _, u := range v.Unchecked {
		fmt.Fprintf(w, "not checked offline: %s\n", u)
	}
}

func printVerdictJSON(w io.Writer, v egress.Verdict, used map[string]int) {
	out := struct {
		Decision  string   `json:"decision"`
		Reason    string   `json:"reason,omitempty"`
		Route     string   `json:"route,omitempty"`
		Line      int      `json:"line,omitempty"`
		Mode      string   `json:"mode"`
		Inject    []string `json:"inject,omitempty"`
		Expires   string   `json:"expires,omitempty"`
		Uses      int      `json:"uses,omitempty"`
		Used      int      `json:"used,omitempty"`
		Unchecked []string `json:"unchecked,omitempty"`
	}{Decision: "deny", Reason: v.Reason, Mode: v.Mode, Inject: v.Inject, Unchecked: v.Unchecked}
	if v.Allow {
		out.Decision = "allow"
	}
	if r := v.Route; r != nil {
		out.Route, out.Line, out.Uses, out.Used = r.Host, r.Line, r.Uses, used[egress.GrantKey(r)]
		if !r.Expires.IsZero() {
			out.Expires = r.Expires.UTC().Format(time.RFC3339)
		}
	}
	json.NewEncoder(w).Encode(out)
}

func scheme(v egress.Verdict) string {
	if v.Mode == egress.ModeHTTP {
		return "http"
	}
	return "https"
}

func hostPort(v egress.Verdict) string {
	if (v.Mode == egress.ModeHTTP && v.Port == "80") || (v.Mode != egress.ModeHTTP && v.Port == "443") {
		return v.Host
	}
	return v.Host + ":" + v.Port
}
