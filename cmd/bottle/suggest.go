package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/egress/routes"
	"github.com/bottle-sh/bottle/runtime"
)

// runRoutesSuggest is `bottle routes suggest SLUG`: from the bottle's
// pending denied requests (grouped by host, method and path prefix), the
// smallest routes change that would have allowed them, for the operator
// to review. It changes nothing.
func runRoutesSuggest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routes suggest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() != 1 || !slugRe.MatchString(fs.Arg(0)) {
		fmt.Fprintf(stderr, "bottle routes suggest: want one bottle SLUG\nusage: bottle routes suggest [--state DIR] SLUG\n")
		return exitUsage
	}
	slug := fs.Arg(0)
	root, err := runtime.StateRoot(*state, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle routes suggest: %v\n", err)
		return exitUsage
	}
	rs, _, err := routesOf(slug, *state)
	if err != nil {
		fmt.Fprintf(stderr, "bottle routes suggest: %v\n", err)
		return exitUsage
	}
	reqs, err := egress.ReadRequests(filepath.Join(root, slug, egressDir))
	if err != nil {
		fmt.Fprintf(stderr, "bottle routes suggest: %v\n", err)
		return exitFailed
	}
	out := suggestRoutes(rs, reqs)
	if out == "" {
		fmt.Fprintf(stdout, "# %s: no pending denied requests; nothing to suggest\n", slug)
		return exitOK
	}
	fmt.Fprintf(stdout, "# %s: routes that would have allowed its pending denied requests.\n# Review, then add them with: bottle run routes_edit slug=%s (or routes_apply file=)\nroutes:\n%s", slug, slug, out)
	return exitOK
}

// suggestion is one route to add or widen.
type suggestion struct {
	host           string
	paths, methods []string
	ports          []string
	anyPath        bool // a denial with no path (a tunnel): the route must not have paths
	anyMethod      bool
	existing       *routes.Route
	notes          []string
}

// suggestRoutes is the routes (YAML list items) that would have allowed the
// pending denied requests: a new host-only route, or one with the paths
// and methods that were denied; an existing route widened by what it
// refused. Denials it cannot fix by widening (a private address, an
// expired or used-up grant) are comments.
func suggestRoutes(rs *routes.Routes, reqs []egress.AccessRequest) string {
	byHost := map[string]*suggestion{}
	var hosts []string
	for _, r := range reqs {
		if r.Kind != "denied" || r.Status != "pending" {
			continue
		}
		s := byHost[r.Host]
		if s == nil {
			s = &suggestion{host: r.Host, existing: rs.Match(r.Host)}
			byHost[r.Host] = s
			hosts = append(hosts, r.Host)
		}
		switch r.Reason {
		case "private address", "expired", "used up", "header", "ambiguous path", "inject on http", "port":
			s.notes = append(s.notes, fmt.Sprintf("%d x %s %s: %s (not suggested: approve or edit it by hand)", r.Count, plain(orAll(r.Methods)), plain(orAll(r.Paths)), plain(r.Reason)))
			continue
		}
		if len(r.Paths) == 0 {
			s.anyPath = true
		}
		if len(r.Methods) == 0 {
			s.anyMethod = true
		}
		for _, p := range r.Paths {
			if !slices.Contains(s.paths, p) {
				s.paths = append(s.paths, p)
			}
		}
		for _, m := range r.Methods {
			if !slices.Contains(s.methods, m) {
				s.methods = append(s.methods, m)
			}
		}
		s.notes = append(s.notes, fmt.Sprintf("%d x %s %s: %s", r.Count, plain(orAll(r.Methods)), plain(orAll(r.Paths)), plain(r.Reason)))
	}
	sort.Strings(hosts)
	var b strings.Builder
	for _, h := range hosts {
		s := byHost[h]
		for _, n := range s.notes {
			fmt.Fprintf(&b, "  # %s\n", n)
		}
		if len(s.paths) == 0 && len(s.methods) == 0 && !s.anyPath {
			continue // notes only
		}
		paths, methods := s.paths, s.methods
		if e := s.existing; e != nil {
			// Widen: the route keeps what it allows and gains what it refused.
			fmt.Fprintf(&b, "  - host: %s  # was line %d\n", plain(e.Host), e.Line)
			paths = widen(e.Paths, paths, s.anyPath)
			methods = widen(e.Methods, methods, s.anyMethod)
		} else {
			fmt.Fprintf(&b, "  - host: %s\n", plain(h))
			if s.anyPath {
				paths = nil
			}
			if s.anyMethod {
				methods = nil
			}
		}
		if len(paths) > 0 {
			fmt.Fprintf(&b, "    paths: [%s]\n", quoteAll(paths))
		}
		if len(methods) > 0 {
			fmt.Fprintf(&b, "    methods: [%s]\n", plain(strings.Join(methods, ", ")))
		}
	}
	return b.String()
}

// widen is have plus more; nil (everything) when have is already
// everything or any is set.
func widen(have, more []string, any bool) []string {
	if len(have) == 0 || any {
		return nil
	}
	out := slices.Clone(have)
	for _, x := range more {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.QuoteToASCII(x)
	}
	return strings.Join(q, ", ")
}
