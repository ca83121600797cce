package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress is the run's builtins.Progress: one line per step on stderr, log
// output on stdout; with JSON set, both are JSON lines.
type progress struct {
	mu     sync.Mutex
	stdout io.Writer
	stderr io.Writer
	json   bool
}

// event is one JSON line.
type event struct {
	Type   string  `json:"type"` // step, dry-run, undo, rollback, log, result
	Name   string  `json:"name,omitempty"`
	Detail string  `json:"detail,omitempty"`
	MS     float64 `json:"ms,omitempty"`
	Error  string  `json:"error,omitempty"`
	Msg    string  `json:"msg,omitempty"`
	Diff   string  `json:"diff,omitempty"`
}

// writeJSON writes v as one line, leaving <, > and & readable.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// Step implements builtins.Progress.
func (p *progress) Step(name, detail string, took time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		e := event{Type: "step", Name: name, Detail: detail, MS: ms(took)}
		if err != nil {
			e.Error = err.Error()
		}
		writeJSON(p.stderr, e)
		return
	}
	status := "ok  "
	if err != nil {
		status = "FAIL"
	}
	if detail != "" {
		detail = " " + detail
	}
	fmt.Fprintf(p.stderr, "%s %s%s (%s)\n", status, name, detail, round(took))
}

// Log implements builtins.Progress.
func (p *progress) Log(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		writeJSON(p.stdout, event{Type: "log", Msg: msg})
		return
	}
	fmt.Fprintln(p.stdout, msg)
}

// DryRun implements builtins.DryRunReporter: a step --dry-run did not take,
// with a file's diff.
func (p *progress) DryRun(what, diff string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		writeJSON(p.stderr, event{Type: "dry-run", Msg: what, Diff: diff})
		return
	}
	fmt.Fprintf(p.stderr, "dry-run: %s\n%s", what, diff)
}

// DryRunJSON returns a writer for the dry-run recorder under --json: each
// line it is given ("dry-run: network_create ...") becomes one JSON line of
// type "dry-run" on w, like the file builtins' dry-run events.
func DryRunJSON(w io.Writer) io.Writer { return &dryRunLines{w: w} }

type dryRunLines struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (d *dryRunLines) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf = append(d.buf, b...)
	for {
		i := bytes.IndexByte(d.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimPrefix(string(d.buf[:i]), "dry-run: ")
		d.buf = d.buf[i+1:]
		writeJSON(d.w, event{Type: "dry-run", Msg: line})
	}
}

func (p *progress) rollingBack(n int, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		writeJSON(p.stderr, event{Type: "rollback", Msg: fmt.Sprintf("%d step(s): %s", n, why)})
		return
	}
	fmt.Fprintf(p.stderr, "rolling back %d step(s): %s\n", n, why)
}

func (p *progress) undo(what string, took time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		e := event{Type: "undo", Name: what, MS: ms(took)}
		if err != nil {
			e.Error = err.Error()
		}
		writeJSON(p.stderr, e)
		return
	}
	if err != nil {
		fmt.Fprintf(p.stderr, "FAIL undo %s (%s): %s\n", what, round(took), strings.ReplaceAll(err.Error(), "\n", "\n    "))
		return
	}
	fmt.Fprintf(p.stderr, "ok   undo %s (%s)\n", what, round(took))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Millisecond)
}
