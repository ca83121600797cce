package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/state"
)

// bottleView is what a bottle's page shows.
type bottleView struct {
	Meta      state.Metadata
	Entry     lsEntry
	Stopped   bool
	Requests  []slugRequest // pending
	Decisions []decisionLine
	// DecisionsOffset is how much of the live decision logs the page
	// shows (formatOffsets): its live part follows from there.
	DecisionsOffset string
	Routes          []routeView
	RoutesErr       string
	History         []auditLine
}

// routeView is a route as the page shows it: never an injected value,
// only the header's name.
type routeView struct {
	Host, Paths, Methods, Ports, Expires, Uses, Inject, Private string
	Ended                                                       bool
}

// auditLine is the part of an audit.jsonl line the page shows (not the
// recipe's arguments: the action says what was done).
type auditLine struct {
	Time   string `json:"time"`
	Action string `json:"action"`
	Recipe string `json:"recipe"`
	Diff   string `json:"diff"`
	Phase  string `json:"phase"`
	Via    string `json:"via"`
}

// shown caps what a page lists of a log: the newest this many lines.
const shown = 200

func (s *uiServer) bottleView(ctx context.Context, slug string, denied bool) (bottleView, error) {
	var v bottleView
	meta, err := state.Read(s.root, slug)
	if err != nil {
		return v, err
	}
	v.Meta = meta
	// The engine's answer is a round trip: the files are read meanwhile.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	live := make(chan lsEntry, 1)
	go func() {
		cs, engErr := bottleContainers(ctx, meta.Engine) // the engine the bottle is on
		live <- describe(cs, engErr, s.root, meta, time.Now())
	}()
	if rs, err := allRequests(s.root, slug); err == nil {
		for _, q := range rs {
			if q.Status == "pending" {
				v.Requests = append(v.Requests, q)
			}
		}
	}
	v.Decisions, v.DecisionsOffset = recentDecisions(s.stateDir(slug), logFilter{denied: denied})
	v.Routes, err = s.routeViews(slug)
	if err != nil {
		v.RoutesErr = err.Error()
	}
	v.History = recentAudit(filepath.Join(s.stateDir(slug), "audit.jsonl"))
	v.Entry = <-live
	v.Stopped = strings.HasPrefix(v.Entry.Status, state.Stopped)
	return v, nil
}

// recentDecisions are the last lines of the bottle's live decision logs
// (under its state dir) that pass f, newest first, and the sizes of the
// files they were read from.
func recentDecisions(dir string, f logFilter) ([]decisionLine, string) {
	var out []decisionLine
	var lines [][]byte
	sizes := make([]int64, len(decisionDirs))
	for i, d := range decisionDirs {
		var some [][]byte
		some, sizes[i] = tailLines(filepath.Join(dir, d, egress.DecisionsFile), 1<<20)
		for _, b := range some {
			if ofItsLog(i, b) {
				lines = append(lines, b)
			}
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return earlier(lines[i], lines[j]) })
	for _, b := range lines {
		if !f.pass(b) {
			continue
		}
		if d, ok := parseDecision(b); ok {
			out = append(out, d)
		}
	}
	return newest(out), formatOffsets(sizes)
}

func recentAudit(file string) []auditLine {
	var out []auditLine
	lines, _ := tailLines(file, 4<<20)
	for _, b := range lines {
		var a auditLine
		if json.Unmarshal(b, &a) == nil {
			out = append(out, a)
		}
	}
	return newest(out)
}

// newest is the last shown of xs, newest first.
func newest[T any](xs []T) []T {
	if len(xs) > shown {
		xs = xs[len(xs)-shown:]
	}
	out := make([]T, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

// tailLines is the whole lines in the last max bytes of file, and its size.
func tailLines(file string, limit int64) ([][]byte, int64) {
	f, err := openLog(file)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0
	}
	from := max(0, st.Size()-limit)
	data, err := io.ReadAll(io.NewSectionReader(f, from, st.Size()-from))
	if err != nil {
		return nil, 0
	}
	if from > 0 { // the first line is cut: skip it
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	var out [][]byte
	sc := &lineReader{r: bufio.NewReader(bytes.NewReader(data))}
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	return out, st.Size()
}

func (s *uiServer) routeViews(slug string) ([]routeView, error) {
	rs, used, err := routesOf(slug, s.root)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []routeView
	for i := range rs.Routes {
		r := &rs.Routes[i]
		v := routeView{Host: r.Host, Paths: orAll(r.Paths), Methods: orAll(r.Methods), Ports: "*"}
		if len(r.Ports) > 0 {
			ps := make([]string, len(r.Ports))
			for i, p := range r.Ports {
				ps[i] = strconv.Itoa(p)
			}
			v.Ports = strings.Join(ps, ",")
		}
		if !r.Expires.IsZero() {
			v.Expires = r.Expires.UTC().Format(time.RFC3339)
		}
		if r.Uses > 0 {
			n := used[egress.GrantKey(r)]
			v.Uses = strconv.Itoa(n) + " of " + strconv.Itoa(r.Uses) + " used"
			v.Ended = n >= r.Uses
		}
		v.Ended = v.Ended || r.Expired(now)
		if r.Inject != nil {
			v.Inject = r.Inject.Header
		}
		if len(r.Private) > 0 {
			v.Private = "yes"
		}
		out = append(out, v)
	}
	return out, nil
}

// diffLineClass is the class of a line of a unified diff.
func diffLineClass(line string) string {
	switch {
	case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
		return "file"
	case strings.HasPrefix(line, "@@"):
		return "hunk"
	case strings.HasPrefix(line, "+"):
		return "add"
	case strings.HasPrefix(line, "-"):
		return "del"
	}
	return "same"
}
