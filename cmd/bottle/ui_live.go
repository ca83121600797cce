package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/egress"
)

// Server-sent events: a bottle's decisions as the egress and git gate write them
// (followed as bottle logs --follow follows them), the number of its
// pending requests when it changes, and a job's lines as it runs.

// sse starts an event stream on w; send writes one event (with id, when
// not empty) and flushes.
func sse(w http.ResponseWriter) (send func(event string, data any, id string) error, ok bool) {
	fl, ok := w.(http.Flusher)
	if !ok {
		return nil, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	return func(event string, data any, id string) error {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if id != "" {
			fmt.Fprintf(w, "id: %s\n", id)
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		fl.Flush()
		return nil
	}, true
}

// bottleEvents streams the bottle's new decisions (?denied=1: denials
// only) and, when it changes, its number of pending requests.
func (s *uiServer) bottleEvents(w http.ResponseWriter, r *http.Request) {
	slug, ok := s.slugOK(w, r)
	if !ok {
		return
	}
	f := logFilter{denied: r.URL.Query().Get("denied") == "1"}
	// From what the page shows on: its ?from=, or after a reconnection
	// the last event's id (the offsets after the lines it carried).
	from := parseOffsets(r.URL.Query().Get("from"))
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from = parseOffsets(id)
	}
	tails := make([]*tail, len(decisionDirs))
	for i, d := range decisionDirs {
		tails[i] = openTail(filepath.Join(s.stateDir(slug), d, egress.DecisionsFile), from[i])
		if tails[i].fh == nil {
			from[i] = 0
		} else if off, err := tails[i].fh.Seek(0, io.SeekCurrent); err == nil {
			from[i] = off
		}
	}
	send, ok := sse(w)
	if !ok {
		return
	}
	pending := -1
	if n, err := strconv.Atoi(r.URL.Query().Get("pending")); err == nil {
		pending = n
	}
	requests := filepath.Join(s.stateDir(slug), egressDir, egress.RequestsFile)
	var seen os.FileInfo
	followLines(r.Context(), tails, s.every, func(lines []logLine) {
		for _, l := range lines {
			from[l.src] += int64(len(l.b)) + 1
			if !ofItsLog(l.src, l.b) || !f.pass(l.b) {
				continue
			}
			if d, ok := parseDecision(l.b); ok {
				send("decision", d, formatOffsets(from))
			}
		}
		// requests.json is rewritten (renamed over) when it changes.
		st, err := os.Stat(requests)
		if err != nil || seen != nil && os.SameFile(st, seen) && st.ModTime().Equal(seen.ModTime()) {
			return
		}
		seen = st
		if n := s.pendingCount(slug); n != pending {
			pending = n
			send("pending", n, "")
		}
	})
}

// parseOffsets reads offsets in the decision logs (decisionDirs) as
// formatOffsets writes them ("E.G"); what is missing or bad is 0.
func parseOffsets(s string) []int64 {
	out := make([]int64, len(decisionDirs))
	for i, part := range strings.SplitN(s, ".", len(out)) {
		out[i], _ = strconv.ParseInt(part, 10, 64)
	}
	return out
}

func formatOffsets(offs []int64) string {
	parts := make([]string, len(offs))
	for i, o := range offs {
		parts[i] = strconv.FormatInt(o, 10)
	}
	return strings.Join(parts, ".")
}

func (s *uiServer) pendingCount(slug string) int {
	rs, err := allRequests(s.root, slug)
	if err != nil {
		return 0
	}
	n := 0
	for _, q := range rs {
		if q.Status == "pending" {
			n++
		}
	}
	return n
}

// jobEvents streams a job's lines from ?from= on, then its end.
func (s *uiServer) jobEvents(w http.ResponseWriter, r *http.Request) {
	j := s.jobs.get(r.PathValue("id"))
	if j == nil {
		refuse(w, http.StatusNotFound, "There is no such job.")
		return
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("from"))
	send, ok := sse(w)
	if !ok {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		lines, done, code, changed := j.since(n)
		for _, l := range lines {
			send("line", l, "")
		}
		n += len(lines)
		if done {
			send("done", code, "")
			return
		}
		select {
		case <-changed:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-r.Context().Done():
			return
		}
	}
}
