package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
	"github.com/bottle-sh/bottle/runtime"
	"github.com/bottle-sh/bottle/state"
)

func init() {
	register(command{
		name:    "ls",
		usage:   "ls [--json] [--state DIR]",
		summary: "list bottles under the state root, with live status",
		order:   30,
		run:     runLs,
	})
}

// lsEntry is one line of `bottle ls` (and one JSON object of --json).
type lsEntry struct {
	Name       string                         `json:"name"`
	Slug       string                         `json:"slug"`
	Status     string                         `json:"status"`
	Created    string                         `json:"created"`
	AgeSeconds int64                          `json:"age_seconds"`
	Services   map[string]state.ServiceStatus `json:"services"`
	StateDir   string                         `json:"state_dir"`
}

func runLs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per bottle, a line each")
	stateRoot := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle ls [--json] [--state DIR]

List the bottles under the state root (each <root>/<slug>/metadata.json) with
their status as the engine reports it now: running (every service up),
degraded N/M, down (started but no service up), stopped, or stopped with
leftovers (containers remain: bottle run cleanup). A state directory
with no metadata.json is a start: starting while a run holds it, else start
killed (bottle run cleanup to remove what it left).

Flags:
`)
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bottle ls: unexpected argument %q\nusage: bottle %s\n", fs.Arg(0), commands["ls"].usage)
		return exitUsage
	}
	root, err := runtime.StateRoot(*stateRoot, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle ls: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, err := listBottles(ctx, root, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "bottle ls: %v\n", err)
		return exitFailed
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			enc.Encode(e)
		}
		return exitOK
	}
	if len(entries) == 0 {
		fmt.Fprintf(stdout, "no bottles under %s; start one with: bottle run start name=NAME\n", root)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSLUG\tSTATUS\tAGE\tSERVICES")
	for _, e := range entries {
		var svcs []string
		for _, s := range slices.Sorted(maps.Keys(e.Services)) {
			svcs = append(svcs, s+":"+e.Services[s].Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Slug, e.Status, age(time.Duration(e.AgeSeconds)*time.Second), strings.Join(svcs, " "))
	}
	tw.Flush()
	return exitOK
}

// listBottles is every bottle under root with its status as the engine
// reports it now (bottle ls, and bottle ui's list). When the engine cannot
// be asked, each status says why.
func listBottles(ctx context.Context, root string, now time.Time) ([]lsEntry, error) {
	metas, err := state.List(root)
	if err != nil {
		return nil, err
	}
	// One list for all bottles, grouped by slug, rather than a call per bottle.
	bySlug := map[string][]engine.Container{}
	var engErr error
	if len(metas) > 0 {
		var cs []engine.Container
		cs, engErr = bottleContainers(ctx)
		for _, c := range cs {
			slug := c.Labels[engine.InstanceLabel]
			bySlug[slug] = append(bySlug[slug], c)
		}
	}
	entries := make([]lsEntry, 0, len(metas))
	for _, m := range metas {
		entries = append(entries, describe(bySlug[m.Slug], engErr, root, m, now))
	}
	return entries, nil
}

// bottleContainers lists every container that carries the instance label.
func bottleContainers(ctx context.Context) ([]engine.Container, error) {
	eng, err := docker.New(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	return eng.Containers(ctx, map[string]string{engine.InstanceLabel: ""})
}

// describe is one line of ls: a bottle's metadata, its status as the engine
// says now (state's rules; cs are the containers labelled with its slug), or
// why that is unknown.
func describe(cs []engine.Container, engErr error, root string, m state.Metadata, now time.Time) lsEntry {
	e := lsEntry{Name: m.Name, Slug: m.Slug, Created: m.Created, StateDir: filepath.Join(root, m.Slug),
		Services: map[string]state.ServiceStatus{}}
	if t, err := time.Parse(time.RFC3339Nano, m.Created); err == nil {
		e.AgeSeconds = int64(now.Sub(t).Seconds())
	}
	if engErr != nil {
		e.Status = "unknown (" + engErr.Error() + ")"
		return e
	}
	live := m.Live(cs, e.StateDir)
	e.Status, e.Services = live.Status, live.Services
	return e
}

// age prints a duration the way ls users expect: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
