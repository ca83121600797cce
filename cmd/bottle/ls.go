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
	"sync"
	"text/tabwriter"
	"time"

	"github.com/bottle-sh/bottle/engine"
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
	Name   string `json:"name"`
	Slug   string `json:"slug"`
	Engine string `json:"engine"` // its context, else its address
	Status string `json:"status"`
	// EngineError says why its engine could not be asked ("" when it answered).
	EngineError string                         `json:"engine_error,omitempty"`
	Created     string                         `json:"created"`
	AgeSeconds  int64                          `json:"age_seconds"`
	Services    map[string]state.ServiceStatus `json:"services"`
	StateDir    string                         `json:"state_dir"`
}

func runLs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per bottle, a line each")
	stateRoot := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle ls [--json] [--state DIR]

List the bottles under the state root (each <root>/<slug>/metadata.json) with
the engine each is on (ENGINE: its Docker context, else its address) and
their status as that engine reports it now: running (every service up),
degraded N/M, down (started but no service up), stopped, or stopped with
leftovers (containers remain: bottle run cleanup). A state directory
with no metadata.json is a start: starting while a run holds it, else start
killed (bottle run cleanup to remove what it left). Every engine is asked at
once; one that does not answer within 10s is reported on its own line on
stderr, and its bottles' status is unknown.

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
	if err := trustedStateRoot(root); err != nil {
		fmt.Fprintf(stderr, "bottle ls: %v\n", err)
		return exitFailed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, err := listBottles(ctx, root, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "bottle ls: %v\n", err)
		return exitFailed
	}

	reported := map[string]bool{}
	for _, e := range entries {
		if e.EngineError != "" && !reported[e.Engine] {
			reported[e.Engine] = true
			fmt.Fprintf(stderr, "bottle ls: engine %s does not answer: %s\n", e.Engine, e.EngineError)
		}
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
	fmt.Fprintln(tw, "NAME\tSLUG\tENGINE\tSTATUS\tAGE\tSERVICES")
	for _, e := range entries {
		var svcs []string
		for _, s := range slices.Sorted(maps.Keys(e.Services)) {
			svcs = append(svcs, s+":"+e.Services[s].Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Slug, e.Engine, e.Status, age(time.Duration(e.AgeSeconds)*time.Second), strings.Join(svcs, " "))
	}
	tw.Flush()
	return exitOK
}

// listBottles is every bottle under root with its engine and its status as
// that engine reports it now (bottle ls, and bottle ui's list). When an
// engine cannot be asked, the status of each of its bottles says so and
// EngineError why.
func listBottles(ctx context.Context, root string, now time.Time) ([]lsEntry, error) {
	metas, err := state.List(root)
	if err != nil {
		return nil, err
	}
	lists, engineOf := listEngines(ctx, metas)
	entries := make([]lsEntry, 0, len(metas))
	for _, m := range metas {
		l := lists[engineOf(m)]
		entries = append(entries, describe(l.bySlug[m.Slug], l.err, root, m, now))
	}
	return entries, nil
}

// engineList is what one engine said: the containers carrying the
// instance label, by slug, or why it did not answer.
type engineList struct {
	recorded state.Engine
	at       engine.Endpoint
	bySlug   map[string][]engine.Container
	err      error
}

// listEngines asks every engine the bottles are on for its bottle
// containers, all at once: one list per engine, not a call per bottle, and
// an engine that is slow or down costs its own wait only. A bottle that
// recorded no engine is on the default one.
func listEngines(ctx context.Context, metas []state.Metadata) (map[string]*engineList, func(state.Metadata) string) {
	byDefault, _ := dockerEngines().Resolve("")
	key := func(m state.Metadata) string {
		if m.Engine.Host == "" {
			return byDefault.Host
		}
		return m.Engine.Host
	}
	lists := map[string]*engineList{}
	for _, m := range metas {
		if _, ok := lists[key(m)]; !ok {
			l := &engineList{recorded: m.Engine, at: endpointOf(m.Engine)}
			if l.at.Host == "" {
				l.at = byDefault
			}
			lists[key(m)] = l
		}
	}
	var wg sync.WaitGroup
	for _, l := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ectx, cancel := context.WithTimeout(ctx, engineWait)
			defer cancel()
			var cs []engine.Container
			cs, l.err = bottleContainers(ectx, l.recorded)
			l.bySlug = map[string][]engine.Container{}
			for _, c := range cs {
				slug := c.Labels[engine.InstanceLabel]
				l.bySlug[slug] = append(l.bySlug[slug], c)
			}
		}()
	}
	wg.Wait()
	return lists, key
}

// engineWait bounds how long ls waits for one engine's answer.
const engineWait = 10 * time.Second

// bottleContainers lists every container that carries the instance label
// on one engine ("" key: the default one).
func bottleContainers(ctx context.Context, m state.Engine) ([]engine.Container, error) {
	eng, err := bottleEngine(ctx, state.Metadata{Engine: m})
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
	e := lsEntry{Name: m.Name, Slug: m.Slug, Engine: m.Engine.Name, Created: m.Created, StateDir: filepath.Join(root, m.Slug),
		Services: map[string]state.ServiceStatus{}}
	if e.Engine == "" {
		e.Engine = m.Engine.Host
	}
	if e.Engine == "" {
		e.Engine = "default"
	}
	if t, err := time.Parse(time.RFC3339Nano, m.Created); err == nil {
		e.AgeSeconds = int64(now.Sub(t).Seconds())
	}
	if engErr != nil {
		e.Status = "unknown (its engine does not answer)"
		e.EngineError = engErr.Error()
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
