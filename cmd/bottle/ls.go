package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
	"github.com/bottle-sh/bottle/internal/flock"
	"github.com/bottle-sh/bottle/runtime"
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

// bottleMeta is the part of metadata.json (written by recipes/start.star and
// stop.star) that ls and attach read.
type bottleMeta struct {
	Name           string            `json:"name"`
	Slug           string            `json:"slug"`
	Status         string            `json:"status"`
	Created        string            `json:"created"`
	Stopped        string            `json:"stopped,omitempty"`
	ComposeProject string            `json:"compose_project"`
	Services       map[string]string `json:"services"`
	Attach         struct {
		Service string   `json:"service"`
		Cmd     []string `json:"cmd"`
		User    string   `json:"user"`
	} `json:"attach"`
}

// readMeta reads <root>/<slug>/metadata.json.
func readMeta(root, slug string) (bottleMeta, error) {
	var m bottleMeta
	data, err := os.ReadFile(filepath.Join(root, slug, "metadata.json"))
	if errors.Is(err, iofs.ErrNotExist) {
		return m, fmt.Errorf("no bottle %q under %s (bottle ls lists them)", slug, root)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %v", filepath.Join(root, slug, "metadata.json"), err)
	}
	if m.Slug == "" {
		m.Slug = slug
	}
	return m, nil
}

// Statuses of a state directory with no metadata.json: a start.
const (
	statusStarting = "starting"
	statusDead     = "start killed"
)

// startOf describes a state directory with no metadata.json: a start in
// progress holds it locked (state_dir()); one that is not held died before
// it finished, and cleanup removes what it left.
func startOf(root, slug string) bottleMeta {
	m := bottleMeta{Name: slug, Slug: slug, Status: statusDead}
	if f, err := os.Open(filepath.Join(root, slug)); err == nil {
		if ok, err := flock.Try(f); err == nil && !ok {
			m.Status = statusStarting
		}
		f.Close() // releases the lock if this took it
	}
	return m
}

// lsEntry is one line of `bottle ls` (and one JSON object of --json).
type lsEntry struct {
	Name       string                   `json:"name"`
	Slug       string                   `json:"slug"`
	Status     string                   `json:"status"`
	Created    string                   `json:"created"`
	AgeSeconds int64                    `json:"age_seconds"`
	Services   map[string]serviceStatus `json:"services"`
	StateDir   string                   `json:"state_dir"`
}

type serviceStatus struct {
	Container string `json:"container"`
	Status    string `json:"status"` // from the engine: running, exited, ... or "absent"
}

func runLs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per bottle, a line each")
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
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
	root, err := runtime.StateRoot(*state, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle ls: %v\n", err)
		return exitUsage
	}
	dirs, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		fmt.Fprintf(stderr, "bottle ls: %v\n", err)
		return exitFailed
	}
	var metas []bottleMeta
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		m, err := readMeta(root, d.Name())
		if _, statErr := os.Stat(filepath.Join(root, d.Name(), "metadata.json")); errors.Is(statErr, iofs.ErrNotExist) {
			m, err = startOf(root, d.Name()), nil
		}
		if err != nil {
			continue // not a bottle
		}
		metas = append(metas, m)
	}
	sort.Slice(metas, func(i, j int) bool { return metas[i].Slug < metas[j].Slug })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
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
	now := time.Now()
	entries := make([]lsEntry, 0, len(metas))
	for _, m := range metas {
		entries = append(entries, describe(bySlug[m.Slug], engErr, root, m, now))
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

// bottleContainers lists every container that carries the instance label.
func bottleContainers(ctx context.Context) ([]engine.Container, error) {
	eng, err := docker.New(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	return eng.Containers(ctx, map[string]string{engine.InstanceLabel: ""})
}

// describe combines a bottle's metadata with what the engine says now: cs
// are the containers labelled with its slug, engErr why there are none to say.
func describe(cs []engine.Container, engErr error, root string, m bottleMeta, now time.Time) lsEntry {
	e := lsEntry{Name: m.Name, Slug: m.Slug, Created: m.Created, StateDir: filepath.Join(root, m.Slug),
		Services: map[string]serviceStatus{}}
	if t, err := time.Parse(time.RFC3339Nano, m.Created); err == nil {
		e.AgeSeconds = int64(now.Sub(t).Seconds())
	}
	if engErr != nil {
		e.Status = "unknown (" + engErr.Error() + ")"
		return e
	}
	// A bottle of the same slug under another state root is not this one.
	mine := cs[:0]
	for _, c := range cs {
		if st := c.Labels[engine.StateLabel]; st == "" || st == e.StateDir {
			mine = append(mine, c)
		}
	}
	cs = mine
	byName := map[string]engine.Container{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	up := 0
	for svc, name := range m.Services {
		st := "absent"
		if c, ok := byName[name]; ok {
			st = c.Status
			if c.Running {
				up++
			}
		}
		e.Services[svc] = serviceStatus{Container: name, Status: st}
	}
	switch {
	case m.Status == statusStarting:
		e.Status = statusStarting
	case m.Status == statusDead && len(cs) > 0:
		e.Status = "start killed, with leftovers: bottle run cleanup"
	case m.Status == statusDead:
		e.Status = "start killed: bottle run cleanup"
	case m.Status == "stopped" && len(cs) > 0:
		e.Status = "stopped, with leftovers"
	case m.Status == "stopped":
		e.Status = "stopped"
	case up == len(m.Services) && up > 0:
		e.Status = "running"
	case up == 0:
		e.Status = "down"
	default:
		e.Status = fmt.Sprintf("degraded %d/%d", up, len(m.Services))
	}
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
