package main

import (
	"bytes"
	"strconv"
	"sync"
	"time"
)

// A job is one action the UI runs for the operator: bottle's own commands
// (bottle run start ..., bottle approve's runAnswer), called in-process
// with a writer that keeps their lines, the step lines the CLI prints, for
// the job's page to stream.
type job struct {
	ID    string
	Title string // "stop implementer"
	Slug  string
	Start time.Time

	mu      sync.Mutex
	lines   []string
	partial []byte
	done    bool
	code    int
	changed chan struct{} // closed and replaced whenever lines or done change
}

// Write takes what the command prints, a line at a time.
func (j *job) Write(b []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.partial = append(j.partial, b...)
	for {
		i := bytes.IndexByte(j.partial, '\n')
		if i < 0 {
			break
		}
		j.lines = append(j.lines, string(j.partial[:i]))
		j.partial = j.partial[i+1:]
	}
	j.notify()
	return len(b), nil
}

func (j *job) finish(code int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.partial) > 0 {
		j.lines = append(j.lines, string(j.partial))
		j.partial = nil
	}
	j.done, j.code = true, code
	j.notify()
}

func (j *job) notify() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// since returns the lines from n on, whether the job is done and its exit
// code, and a channel closed at the next change.
func (j *job) since(n int) (lines []string, done bool, code int, changed <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n < len(j.lines) {
		lines = append(lines, j.lines[n:]...)
	}
	return lines, j.done, j.code, j.changed
}

// jobs are the UI's jobs, the last jobsKept of them.
type jobs struct {
	mu      sync.Mutex
	next    int
	byID    map[string]*job
	order   []string
	running sync.WaitGroup
}

const jobsKept = 200

// start runs do in the background as a new job; do writes to the job and
// returns the exit code.
func (js *jobs) start(title, slug string, do func(out *job) int) *job {
	js.mu.Lock()
	js.next++
	j := &job{ID: strconv.Itoa(js.next), Title: title, Slug: slug, Start: time.Now(), changed: make(chan struct{})}
	if js.byID == nil {
		js.byID = map[string]*job{}
	}
	js.byID[j.ID] = j
	js.order = append(js.order, j.ID)
	if len(js.order) > jobsKept {
		delete(js.byID, js.order[0])
		js.order = js.order[1:]
	}
	js.running.Add(1)
	js.mu.Unlock()
	go func() {
		defer js.running.Done()
		j.finish(do(j))
	}()
	return j
}

func (js *jobs) get(id string) *job {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.byID[id]
}

// wait waits for every running job to end.
func (js *jobs) wait() { js.running.Wait() }
