package egress

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// accessEntry is one access-log line. It holds the host, method and path
// of a request and a fixed error text, never a value the client chose
// elsewhere: Path carries no query string (query strings hold tokens often
// enough), no header value is ever logged (nor the Host header), Host is
// empty when the target did not parse as a host, a method that is neither
// standard nor in the route's methods is "OTHER", and errors about what
// the client sent are fixed classes ("malformed request"), not Go's text,
// which quotes the header line or target it choked on.
type accessEntry struct {
	start        time.Time
	routeMethods []string // the matched route's methods, logged as sent

	Time     string  `json:"time"`             // RFC 3339, UTC, when the request arrived
	Client   string  `json:"client"`           // client address
	Method   string  `json:"method"`           // CONNECT for tunnels
	Host     string  `json:"host"`             // the host routed on (URL or CONNECT target, never the Host header)
	Path     string  `json:"path"`             // escaped path, "" for CONNECT
	Decision string  `json:"decision"`         // allow, deny, tunnel, intercept, reject (bad request), error (upstream failed)
	Route    string  `json:"route"`            // host of the matching route, "" when none
	Status   int     `json:"status"`           // status sent to the client
	Bytes    int64   `json:"bytes"`            // body bytes sent to the client (for a tunnel: all bytes to the client)
	Duration float64 `json:"duration"`         // milliseconds, until the response (or tunnel) ended
	Reason   string  `json:"reason,omitempty"` // why a deny: a Reason constant (decide.go)
	Mode     string  `json:"mode,omitempty"`   // tunnel, intercept or http (decide.go's Mode constants)
	Inject   string  `json:"inject,omitempty"` // the name of the header the egress set, never its value
	Error    string  `json:"error,omitempty"`
}

type accessLog struct {
	mu sync.Mutex
	w  io.Writer
	// onDeny sees every denied request: it becomes a pending access
	// request (requests.go).
	onDeny func(*accessEntry)
}

func newAccessLog(w io.Writer) *accessLog {
	if w == nil {
		w = io.Discard
	}
	return &accessLog{w: w}
}

func (l *accessLog) write(e *accessEntry) {
	if e.Method != "" && !standardMethods[e.Method] && !slices.Contains(e.routeMethods, e.Method) {
		e.Method = "OTHER" // a token the client made up can be anything, a secret too
	}
	if l.onDeny != nil && e.Decision == "deny" {
		l.onDeny(e)
	}
	if l.w == io.Discard {
		return
	}
	e.Time = e.start.UTC().Format(time.RFC3339Nano)
	e.Duration = float64(time.Since(e.start).Microseconds()) / 1000
	enc := lineEncoders.Get().(*lineEncoder)
	enc.buf.Reset()
	if enc.enc.Encode(e) == nil { // json.Marshal's bytes, and a newline
		l.mu.Lock()
		l.w.Write(enc.buf.Bytes()) // an io.Writer does not keep the slice
		l.mu.Unlock()
	}
	if enc.buf.Cap() <= 64<<10 { // a line with a long path is not kept
		lineEncoders.Put(enc)
	}
}

// standardMethods are logged as sent (RFC 9110, PATCH, WebDAV).
var standardMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true, "CONNECT": true, "OPTIONS": true,
	"TRACE": true, "TRACK": true, "PATCH": true, "PROPFIND": true, "PROPPATCH": true, "MKCOL": true, "COPY": true,
	"MOVE": true, "LOCK": true, "UNLOCK": true, "REPORT": true, "SEARCH": true, "QUERY": true,
}

// quotedValue is a Go-quoted string in an error's text.
var quotedValue = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// upstreamError is the access log's text for a failed dial or exchange
// with an upstream: Go's error text with every quoted value cut (a
// malformed response is quoted, and could echo what was sent), and a
// malformed header line cut off.
func upstreamError(err error) string {
	var pe *privateAddrError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	s := err.Error()
	if i := strings.Index(s, "malformed MIME header"); i >= 0 {
		s = s[:i] + "malformed MIME header line"
	}
	return quotedValue.ReplaceAllString(s, `"..."`)
}

// lineEncoder is a reusable buffer and JSON encoder for access-log lines,
// so that logging a request does not allocate the line.
type lineEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var lineEncoders = sync.Pool{New: func() any {
	le := &lineEncoder{}
	le.enc = json.NewEncoder(&le.buf)
	return le
}}

// BatchWriter collects access-log lines and writes them out at most every
// Interval (or when 32 KiB have gathered), so that the proxy does not make
// one write system call per request: under load that was a fifth of its
// system calls. Lines stay whole. Call Flush before exiting.
type BatchWriter struct {
	W        io.Writer
	Interval time.Duration

	mu      sync.Mutex
	buf     []byte
	pending bool // a flush is scheduled
}

func (b *BatchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= 32<<10 {
		return len(p), b.flushLocked()
	}
	if !b.pending {
		b.pending = true
		time.AfterFunc(b.Interval, func() { b.Flush() })
	}
	return len(p), nil
}

// Flush writes what has gathered.
func (b *BatchWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = false
	return b.flushLocked()
}

func (b *BatchWriter) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.W.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}
