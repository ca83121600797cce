package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "logs",
		usage:   "logs [--follow] [--denied] [--since WHEN] [--json] [--state DIR] SLUG",
		summary: "a bottle's decision log: every request its egress and every fetch or push its git gate allowed or denied, and why",
		order:   36,
		run:     runLogs,
	})
}

// decisionLine is the part of a decision-log line `bottle logs` shows.
type decisionLine struct {
	Time, Method, Host, Path, Decision, Reason, Mode, Route, Inject, Error string
	Status                                                                 int
	Bytes                                                                  int64
	Duration                                                               float64
	// A git gate's line (kind "git", gitgate.Record) has these too, and
	// is shown in the same columns (gitColumns).
	Kind, Remote, Op, Rule string
	Commits                int
	Refs                   []gitRef
}

// gitRef is a ref of a git gate's line: for a push, from old to new; for
// a fetch, the wanted object (new) and the refs naming it.
type gitRef struct{ Ref, Old, New string }

type logFilter struct {
	denied bool
	since  time.Time
	// sinceKey is since as the log writes times, to the second
	// ("2006-01-02T15:04:05"): lines compare on it before being parsed.
	sinceKey string
}

func runLogs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	follow := fs.Bool("follow", false, "keep printing lines as the egress writes them, until interrupted")
	denied := fs.Bool("denied", false, "only requests that were denied or refused (decision deny or reject)")
	since := fs.String("since", "", "only lines from `WHEN` on: a duration back from now (10m, 2h) or an RFC 3339 time")
	asJSON := fs.Bool("json", false, "print the log's JSON lines as they are")
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle logs [--follow] [--denied] [--since WHEN] [--json] [--state DIR] SLUG

Print a bottle's decision log, oldest first: every request its egress
decided on, with the decision (allow, tunnel, intercept, deny, reject,
error), the reason for a deny (no route, path, method, port, header,
private address, expired, used up...), the method, host and path (never a
query string or a header value), the status, bytes, duration, the mode
(tunnel, intercept, http) and the injected header's name. The log is
<state>/<slug>/egress/decisions.jsonl, written by the egress, kept across
stop and start, rotated at 32 MiB (four files kept).

With a git gate, its fetches and pushes are in the same table, in time
order: the decision (allow, deny), the rule that refused (push, force,
delete, tags, max_push, scan, fetch, refname) as the reason, fetch or push
as the method, git:REMOTE as the host, the ref as the path, the pack's
bytes, and last each ref's old..new object ids, the commit count and the
whole reason. That log is <state>/<slug>/git-gate/log/decisions.jsonl,
rotated the same way; --follow follows both.

Flags:
`)
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "bottle logs: want one SLUG, got %d argument(s)\nusage: bottle %s\n", fs.NArg(), commands["logs"].usage)
		return exitUsage
	}
	slug := fs.Arg(0)
	var f logFilter
	f.denied = *denied
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "bottle logs: --since %q: %v\n", *since, err)
			return exitUsage
		}
		f.since = t.UTC()
		f.sinceKey = f.since.Format("2006-01-02T15:04:05")
	}
	if !slugRe.MatchString(slug) {
		fmt.Fprintf(stderr, "bottle logs: %q is not a bottle slug (lowercase letters, digits and dashes; `bottle ls` lists them)\n", slug)
		return exitUsage
	}
	root, err := runtime.StateRoot(*state, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle logs: %v\n", err)
		return exitUsage
	}
	dir := filepath.Join(root, slug)
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(stderr, "bottle logs: no bottle %q under %s (`bottle ls` lists them)\n", slug, root)
		return exitUsage
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	defer w.Flush()
	p := &logPrinter{w: w, json: *asJSON, f: f}
	if !p.json {
		p.header()
	}
	logs := make([]*logFiles, len(decisionDirs))
	defer func() {
		for _, l := range logs {
			l.close()
		}
	}()
	for i, d := range decisionDirs {
		if logs[i], err = openLogFiles(filepath.Join(dir, d)); err != nil {
			fmt.Fprintf(stderr, "bottle logs: %v\n", err)
			return exitFailed
		}
	}
	if err := mergeLogs(logs, p.line); err != nil {
		fmt.Fprintf(stderr, "bottle logs: %v\n", err)
		return exitFailed
	}
	if !*follow {
		return exitOK
	}
	w.Flush()
	tails := make([]*tail, len(logs))
	for i, l := range logs {
		tails[i] = l.tail()
	}
	return p.follow(tails)
}

// parseSince reads --since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("a duration back from now is positive (10m, 2h)")
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("want a duration back from now (10m, 2h) or an RFC 3339 time (2026-12-01T15:04:05Z)")
}

type logPrinter struct {
	w    *bufio.Writer
	json bool
	f    logFilter
}

func (p *logPrinter) header() {
	fmt.Fprintf(p.w, "%-24s %-9s %-15s %-7s %-30s %-24s %6s %9s %9s  %s\n", "TIME", "DECISION", "REASON", "METHOD", "HOST", "PATH", "STATUS", "BYTES", "MS", "MODE/INJECT")
}

var (
	denyMark   = []byte(`"decision":"deny"`)
	rejectMark = []byte(`"decision":"reject"`)
)

// line prints one log line if it passes the filter.
func (p *logPrinter) line(b []byte) {
	if !p.f.pass(b) {
		return
	}
	if p.json {
		p.w.Write(b)
		p.w.WriteByte('\n')
		return
	}
	if d, ok := parseDecision(b); ok {
		p.row(&d)
	}
}

// pass reports whether a log line passes the filter. The cheap tests
// come first: a byte search for --denied, the time's first 19 bytes for
// --since; only lines that pass are decoded.
func (f logFilter) pass(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if f.denied && !bytes.Contains(b, denyMark) && !bytes.Contains(b, rejectMark) {
		return false
	}
	if f.sinceKey != "" {
		t := timeField(b)
		if len(t) < 19 || string(t[:19]) < f.sinceKey {
			return false
		}
		if string(t[:19]) == f.sinceKey {
			if pt, err := time.Parse(time.RFC3339Nano, string(t)); err == nil && pt.Before(f.since) {
				return false
			}
		}
	}
	return true
}

// parseDecision decodes a decision-log line, the egress's or the git
// gate's; false for a line that is neither.
func parseDecision(b []byte) (decisionLine, bool) {
	var d decisionLine
	if !parseFlat(b, &d) {
		j := new(decisionLine) // on the heap for encoding/json; d is not
		if json.Unmarshal(b, j) != nil {
			return d, false
		}
		d = *j
	}
	if d.Kind == "git" {
		d.gitColumns()
	}
	return d, true
}

// gitColumns puts a git gate's line in the egress's columns: the rule as
// the reason, the op as the method, git:REMOTE as the host, the ref as
// the path (or how many), and as the mode each ref's old..new (short
// ids), the commit count and the whole reason.
func (d *decisionLine) gitColumns() {
	why := d.Reason
	d.Method, d.Host, d.Reason = d.Op, "git:"+d.Remote, d.Rule
	if d.Reason == "" && why != "" {
		d.Reason, _, _ = strings.Cut(why, ":") // "upstream: ..."
	}
	var moves []string
	for _, r := range d.Refs {
		m := shortID(r.New)
		if r.Old != "" {
			m = shortID(r.Old) + ".." + m
		}
		if len(d.Refs) > 1 {
			m = r.Ref + " " + m
		}
		moves = append(moves, m)
	}
	switch len(d.Refs) {
	case 0:
	case 1:
		d.Path = d.Refs[0].Ref
	default:
		d.Path = strconv.Itoa(len(d.Refs)) + " refs"
	}
	mode := "git"
	if len(moves) > 0 {
		mode += " " + strings.Join(moves, ", ")
	}
	if d.Op == "push" {
		mode += fmt.Sprintf(", %d commit(s)", d.Commits)
	}
	if why != "" {
		mode += ": " + why
	}
	d.Mode = mode
}

// shortID is an object id as git abbreviates it.
func shortID(id string) string {
	if len(id) > 7 {
		return id[:7]
	}
	return id
}

func (p *logPrinter) row(d *decisionLine) {
	ts := stamp(d.Time)
	why := d.Reason
	if why == "" && d.Error != "" {
		why = d.Error
		if len(why) > 15 {
			why = why[:15]
		}
	}
	extra := d.Mode
	if d.Inject != "" {
		extra += " +" + d.Inject
	}
	path := d.Path
	if len(path) > 24 {
		path = path[:23] + "…"
	}
	if d.Kind == "git" { // no status, no duration
		fmt.Fprintf(p.w, "%-24s %-9s %-15s %-7s %-30s %-24s %6s %9d %9s  %s\n", ts, plain(d.Decision), plain(why), plain(d.Method), plain(d.Host), plain(path), "-", d.Bytes, "-", plain(extra))
		return
	}
	fmt.Fprintf(p.w, "%-24s %-9s %-15s %-7s %-30s %-24s %6d %9d %9.3f  %s\n", ts, plain(d.Decision), plain(why), plain(d.Method), plain(d.Host), plain(path), d.Status, d.Bytes, d.Duration, plain(extra))
}

// stamp is an RFC 3339 time from a log as bottle logs prints it (UTC, to
// the millisecond), or as it is when it does not parse.
func stamp(s string) string {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return s
}

// timeField is the value of the line's leading "time" field, or nil.
func timeField(b []byte) []byte {
	const key = `{"time":"`
	if !bytes.HasPrefix(b, []byte(key)) {
		return nil
	}
	b = b[len(key):]
	if i := bytes.IndexByte(b, '"'); i >= 0 {
		return b[:i]
	}
	return nil
}

// parseFlat decodes a decision-log line the way the egress writes it: one
// flat object of strings without escapes and numbers (and a git gate's
// line with no refs). It reports false on anything else (an escape, a
// nested value), for encoding/json to do.
func parseFlat(b []byte, d *decisionLine) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	b = b[1 : len(b)-1]
	for len(b) > 0 {
		if b[0] != '"' {
			return false
		}
		end := bytes.IndexByte(b[1:], '"')
		if end < 0 || len(b) < end+3 || b[end+2] != ':' {
			return false
		}
		key := b[1 : end+1]
		b = b[end+3:]
		var val []byte
		if len(b) > 0 && b[0] == '"' {
			end := bytes.IndexByte(b[1:], '"')
			if end < 0 {
				return false
			}
			val = b[1 : end+1]
			if bytes.IndexByte(val, '\\') >= 0 {
				return false
			}
			b = b[end+2:]
		} else {
			end := bytes.IndexByte(b, ',')
			if end < 0 {
				end = len(b)
			}
			val = b[:end]
			b = b[end:]
			if len(val) > 0 && (val[0] == '{' || val[0] == '[') && string(val) != "[]" {
				return false // nested
			}
		}
		if len(b) > 0 {
			if b[0] != ',' {
				return false
			}
			b = b[1:]
		}
		if !d.set(key, val) {
			return false
		}
	}
	return true
}

func (d *decisionLine) set(key, val []byte) bool {
	var err error
	switch string(key) {
	case "time":
		d.Time = string(val)
	case "method":
		d.Method = string(val)
	case "host":
		d.Host = string(val)
	case "path":
		d.Path = string(val)
	case "decision":
		d.Decision = string(val)
	case "reason":
		d.Reason = string(val)
	case "mode":
		d.Mode = string(val)
	case "route":
		d.Route = string(val)
	case "inject":
		d.Inject = string(val)
	case "error":
		d.Error = string(val)
	case "kind":
		d.Kind = string(val)
	case "remote":
		d.Remote = string(val)
	case "op":
		d.Op = string(val)
	case "rule":
		d.Rule = string(val)
	case "commits":
		d.Commits, err = strconv.Atoi(string(val))
	case "status":
		d.Status, err = strconv.Atoi(string(val))
	case "bytes":
		d.Bytes, err = strconv.ParseInt(string(val), 10, 64)
	case "duration":
		d.Duration, err = strconv.ParseFloat(string(val), 64)
	}
	return err == nil
}

// follow prints what is appended to the logs until SIGINT or SIGTERM.
func (p *logPrinter) follow(tails []*tail) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	followLines(ctx, tails, 200*time.Millisecond, func(lines []logLine) {
		for _, l := range lines {
			if ofItsLog(l.src, l.b) {
				p.line(l.b)
			}
		}
		p.w.Flush()
	})
	return exitOK
}
