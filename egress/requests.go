package egress

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sh/bottle/internal/sidecarfile"
)

// Access requests: what the agent asked for (through the agent API,
// agentapi.go) and what it was denied, waiting for the operator. The
// egress owns requests.json in its state directory and rewrites it (a
// temporary file renamed over it); the operator's answers come the other
// way, as lines the approve and deny recipes append to answers.jsonl in the
// same directory before they signal the egress. Nothing the agent sends
// can answer a request: the agent API has no way to write answers.jsonl.
const (
	RequestsFile = "requests.json"
	AnswersFile  = "answers.jsonl"

	maxOpenRequests  = 100      // pending at once; more asks are refused, more denials dropped
	maxKeptRequests  = 300      // pending and answered, the oldest answered dropped first
	maxReasonBytes   = 500      // of an agent's reason
	maxAnswersBytes  = 4 << 20  // answers.jsonl read at most
	maxRequestsBytes = 16 << 20 // requests.json read at most (300 requests take well under 1 MiB)
	saveDelay        = 200 * time.Millisecond
)

// AccessRequest is one request for access, asked or from denials.
type AccessRequest struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // "asked" (the agent asked) or "denied" (requests were denied)
	Host    string    `json:"host"`
	Methods []string  `json:"methods,omitempty"`
	Paths   []string  `json:"paths,omitempty"` // path prefixes
	Reason  string    `json:"reason"`          // the agent's reason, or the deny's reason word
	Count   int       `json:"count"`           // times asked or denied
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Status  string    `json:"status"` // pending, approved, denied
	Answer  *Answer   `json:"answer,omitempty"`
}

// Answer is the operator's decision on a request: one line of answers.jsonl.
type Answer struct {
	ID       string   `json:"id"`
	Decision string   `json:"decision"` // "approved" or "denied"
	Reason   string   `json:"reason,omitempty"`
	Expires  string   `json:"expires,omitempty"` // RFC 3339, for a grant with --for
	Uses     int      `json:"uses,omitempty"`
	Paths    []string `json:"paths,omitempty"`
	Methods  []string `json:"methods,omitempty"`
	Time     string   `json:"time"`
}

// requestBook holds the requests, bounded, and persists them.
type requestBook struct {
	mu      sync.Mutex
	dir     string // "" keeps them in memory only
	items   []*AccessRequest
	changed chan struct{} // closed (and replaced) when an answer arrives
	timer   *time.Timer
	log     io.Writer
	dropped int // denials not recorded because maxOpenRequests were pending
	denials []denial
	// readOnly: the host's copy (ReadRequests), which never writes the
	// egress's files: requests.json is the egress's alone.
	readOnly bool
}

// denial is one recent deny, for the agent's recent_denials.
type denial struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Host   string    `json:"host"`
	Path   string    `json:"path,omitempty"`
	Reason string    `json:"reason"`
}

const maxDenials = 100

func newRequestBook(dir string, log io.Writer) (*requestBook, error) {
	return openRequestBook(dir, log, false)
}

func openRequestBook(dir string, log io.Writer, readOnly bool) (*requestBook, error) {
	b := &requestBook{dir: dir, changed: make(chan struct{}), log: log, readOnly: readOnly}
	if dir == "" {
		return b, nil
	}
	data, err := sidecarfile.ReadFile(filepath.Join(dir, RequestsFile), maxRequestsBytes)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &b.items); err != nil {
			return nil, fmt.Errorf("%s: %v (move it away to start with no requests)", filepath.Join(dir, RequestsFile), err)
		}
	}
	b.loadAnswers()
	return b, nil
}

func newID() string {
	var r [5]byte
	rand.Read(r[:])
	return "r" + hex.EncodeToString(r[:])
}

// pathPrefix is the first segment of path, the unit requests are grouped
// by: "/v1/models/x" is "/v1/", "/" is "/".
func pathPrefix(path string) string {
	if path == "" {
		return ""
	}
	if i := strings.IndexByte(path[1:], '/'); i >= 0 {
		return path[:i+2]
	}
	return path
}

// denied records a denied request: one pending request per host, method
// and path prefix, counted.
func (b *requestBook) denied(e *accessEntry, now time.Time) {
	if e.Host == "" || e.Host == AgentHost {
		return
	}
	var methods, paths []string
	if e.Method != "" && e.Method != "CONNECT" {
		methods = []string{e.Method}
	}
	if p := pathPrefix(e.Path); p != "" {
		paths = []string{p}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.denials = append(b.denials, denial{Time: now.UTC(), Method: e.Method, Host: e.Host, Path: e.Path, Reason: e.Reason})
	if len(b.denials) > maxDenials {
		b.denials = b.denials[len(b.denials)-maxDenials:]
	}
	if r := b.pendingLocked("denied", e.Host, methods, paths); r != nil {
		r.Count++
		r.Last = now.UTC()
		r.Reason = e.Reason
		b.saveSoonLocked()
		return
	}
	if b.openLocked() >= maxOpenRequests {
		b.dropped++
		return
	}
	b.addLocked(&AccessRequest{Kind: "denied", Host: e.Host, Methods: methods, Paths: paths, Reason: e.Reason}, now)
}

// ask records the agent's request; an identical pending one is counted
// again rather than added.
func (b *requestBook) ask(host string, methods, paths []string, reason string, now time.Time) (*AccessRequest, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r := b.pendingLocked("asked", host, methods, paths); r != nil {
		r.Count++
		r.Last = now.UTC()
		r.Reason = reason
		b.saveSoonLocked()
		c := *r
		return &c, nil
	}
	if b.openLocked() >= maxOpenRequests {
		return nil, fmt.Errorf("%d requests are already waiting for the operator; wait for answers (request_status) before asking for more", maxOpenRequests)
	}
	r := b.addLocked(&AccessRequest{Kind: "asked", Host: host, Methods: methods, Paths: paths, Reason: reason}, now)
	c := *r
	return &c, nil
}

func (b *requestBook) pendingLocked(kind, host string, methods, paths []string) *AccessRequest {
	for _, r := range b.items {
		if r.Status == "pending" && r.Kind == kind && r.Host == host && slices.Equal(r.Methods, methods) && slices.Equal(r.Paths, paths) {
			return r
		}
	}
	return nil
}

func (b *requestBook) openLocked() int {
	n := 0
	for _, r := range b.items {
		if r.Status == "pending" {
			n++
		}
	}
	return n
}

func (b *requestBook) addLocked(r *AccessRequest, now time.Time) *AccessRequest {
	r.ID, r.Count, r.First, r.Last, r.Status = newID(), 1, now.UTC(), now.UTC(), "pending"
	b.items = append(b.items, r)
	for len(b.items) > maxKeptRequests {
		i := slices.IndexFunc(b.items, func(r *AccessRequest) bool { return r.Status != "pending" })
		if i < 0 {
			break
		}
		b.items = slices.Delete(b.items, i, i+1)
	}
	b.saveSoonLocked()
	return r
}

// list is a copy of the requests, newest last; id, when not "", picks one.
func (b *requestBook) list(id string) []AccessRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []AccessRequest
	for _, r := range b.items {
		if id == "" || r.ID == id {
			out = append(out, *r)
		}
	}
	return out
}

func (b *requestBook) recentDenials(n int) []denial {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n <= 0 || n > len(b.denials) {
		n = len(b.denials)
	}
	return slices.Clone(b.denials[len(b.denials)-n:])
}

// wait blocks until an answer arrives, or d passes, or done closes.
func (b *requestBook) wait(d time.Duration, done <-chan struct{}) {
	b.mu.Lock()
	ch := b.changed
	b.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-done:
	}
}

// loadAnswers reads answers.jsonl and applies the answers to the requests
// they name; waiters wake when one is new. Called on start and on every
// reload (the recipes signal the egress after writing an answer).
func (b *requestBook) loadAnswers() {
	if b.dir == "" {
		return
	}
	f, err := sidecarfile.Open(filepath.Join(b.dir, AnswersFile))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxAnswersBytes))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	b.mu.Lock()
	defer b.mu.Unlock()
	news := false
	for sc.Scan() {
		var a Answer
		if json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &a) != nil || (a.Decision != "approved" && a.Decision != "denied") {
			continue
		}
		for _, r := range b.items {
			if r.ID == a.ID && r.Status == "pending" {
				r.Status = a.Decision
				ac := a
				r.Answer = &ac
				news = true
			}
		}
	}
	if news {
		close(b.changed)
		b.changed = make(chan struct{})
		b.saveSoonLocked()
	}
}

func (b *requestBook) saveSoonLocked() {
	if b.dir == "" || b.readOnly || b.timer != nil {
		return
	}
	b.timer = time.AfterFunc(saveDelay, b.save)
}

// save writes requests.json (a temporary file renamed over it).
func (b *requestBook) save() {
	b.mu.Lock()
	b.timer = nil
	data, _ := json.MarshalIndent(b.items, "", "  ")
	b.mu.Unlock()
	path := filepath.Join(b.dir, RequestsFile)
	if err := writeState(path, append(data, '\n')); err != nil {
		fmt.Fprintf(b.log, "egress: saving access requests: %v\n", err)
	}
}

// flush writes requests.json now if a save is due (Shutdown).
func (b *requestBook) flush() {
	b.mu.Lock()
	due := b.timer != nil
	if due {
		b.timer.Stop()
	}
	b.mu.Unlock()
	if due {
		b.save()
	}
}

// ReadRequests reads a bottle egress's requests.json and applies the
// answers in answers.jsonl (for bottle requests, on the host).
func ReadRequests(dir string) ([]AccessRequest, error) {
	b, err := openRequestBook(dir, io.Discard, true)
	if err != nil {
		return nil, err
	}
	return b.list(""), nil
}
