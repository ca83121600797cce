package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bottle-sh/bottle/egress"
)

// Server-sent events: a bottle's decisions as the egress writes them
// (followed as bottle logs --follow follows them), the number of its
// pending requests when it changes, and a job's lines as it runs.

// sse starts an event stream on w; send writes one event (with id, when
// not negative) and flushes.
func sse(w http.ResponseWriter) (send func(event string, data any, id int64) error, ok bool) {
	fl, ok := w.(http.Flusher)
	if !ok {
		return nil, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	return func(event string, data any, id int64) error {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if id >= 0 {
			fmt.Fprintf(w, "id: %d\n", id)
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
	dir := filepath.Join(s.stateDir(slug), egressDir)
	live := filepath.Join(dir, egress.DecisionsFile)
	// From what the page shows on: its ?from=, or after a reconnection
	// the last event's id (the offset after the lines it carried).
	from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		from = id
	}
	fh, err := os.Open(live)
	if err == nil {
		if st, err := fh.Stat(); err == nil && from > st.Size() {
			from = 0 // rotated since: all of the new file is new
		}
		fh.Seek(max(from, 0), io.SeekStart)
	}
	send, ok := sse(w)
	if !ok {
		return
	}
	pending := -1
	if n, err := strconv.Atoi(r.URL.Query().Get("pending")); err == nil {
		pending = n
	}
	requests := filepath.Join(dir, egress.RequestsFile)
	var seen os.FileInfo
	followLines(r.Context(), fh, live, s.every, func(lines [][]byte) {
		for _, b := range lines {
			from += int64(len(b)) + 1
			if !f.pass(b) {
				continue
			}
			if d, ok := parseDecision(b); ok {
				send("decision", d, from)
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
			send("pending", n, -1)
		}
	})
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
			send("line", l, -1)
		}
		n += len(lines)
		if done {
			send("done", code, -1)
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
