package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/internal/sidecarfile"
)

// A bottle's decision logs, under its state dir: the egress's (requests)
// and the git gate's (fetches and pushes), each rotated the same way
// (egress.DecisionFiles). bottle logs and the UI show them as one log, in
// time order.
var decisionDirs = []string{egressDir, filepath.Join("git-gate", "log")}

// ofItsLog reports whether line b belongs in the log decisionDirs[src]:
// the gate's lines are git lines and the egress's are not. Each of the two
// parses what the agent sends; neither, if taken over that way, writes
// lines that pass for the other's.
func ofItsLog(src int, b []byte) bool {
	return gitLine(b) == (decisionDirs[src] != egressDir)
}

// gitLine reports whether b is a git gate's line: gitgate.Record writes
// its kind right after its time, where the egress writes its client.
func gitLine(b []byte) bool {
	const key = `{"time":"`
	t := timeField(b)
	return t != nil && bytes.HasPrefix(b[len(key)+len(t):], []byte(`","kind":"git"`))
}

// logFiles are the files of one decision log, open for reading, oldest first.
type logFiles struct {
	live  string     // the file written to
	files []*os.File // the files there are, oldest first
	last  *os.File   // the live file when it is there: read to its end, it is followed from there
}

func openLogFiles(dir string) (*logFiles, error) {
	names := egress.DecisionFiles(dir)
	l := &logFiles{live: names[len(names)-1]}
	for _, name := range names {
		fh, err := openLog(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			l.close()
			return nil, err
		}
		l.files = append(l.files, fh)
		if name == l.live {
			l.last = fh
		}
	}
	return l, nil
}

// close closes its files (but the live one once a tail has it).
func (l *logFiles) close() {
	if l == nil {
		return
	}
	for _, fh := range l.files {
		fh.Close()
	}
	l.files = nil
}

// tail is the live file followed from where it was read to; it closes
// that file from then on, not close.
func (l *logFiles) tail() *tail {
	if n := len(l.files); l.last != nil && n > 0 && l.files[n-1] == l.last {
		l.files = l.files[:n-1]
	}
	return &tail{name: l.live, fh: l.last}
}

// openLog opens a decision log for reading: its directory is written by
// its sidecar, so a FIFO or a symlink there is refused (sidecarfile).
func openLog(name string) (*os.File, error) { return sidecarfile.Open(name) }

// mergeLogs gives line the lines of every log, in time order (each log is
// in time order already; lines of the same time keep the order of logs).
func mergeLogs(logs []*logFiles, line func([]byte)) error {
	scs := make([]*lineReader, len(logs))
	more := make([]bool, len(logs))
	for i, l := range logs {
		rs := make([]io.Reader, len(l.files))
		for j, fh := range l.files {
			rs[j] = fh
		}
		scs[i] = &lineReader{r: bufio.NewReaderSize(io.MultiReader(rs...), 64<<10)}
	}
	// next moves log i to its next line of its own (ofItsLog).
	next := func(i int) {
		for more[i] = scs[i].Scan(); more[i] && !ofItsLog(i, scs[i].Bytes()); more[i] = scs[i].Scan() {
		}
	}
	for i := range scs {
		next(i)
	}
	for {
		first := -1
		for i, sc := range scs {
			if more[i] && (first < 0 || earlier(sc.Bytes(), scs[first].Bytes())) {
				first = i
			}
		}
		if first < 0 {
			break
		}
		line(scs[first].Bytes())
		next(first)
	}
	for i, sc := range scs {
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", logs[i].live, err)
		}
	}
	return nil
}

// lineReader reads lines as bufio.Scanner does, but drops whole a line
// longer than maxLogLine (as the follower does) instead of stopping at it:
// a sidecar taken over could write one without end, and what comes after
// it must still be read.
type lineReader struct {
	r    *bufio.Reader
	line []byte
	err  error // io.EOF once read to the end
}

// Scan moves to the next line; false at the end or on a read error.
func (l *lineReader) Scan() bool {
	for l.err == nil {
		l.line = l.line[:0]
		long := false
		for {
			chunk, err := l.r.ReadSlice('\n')
			if !long && len(l.line)+len(chunk) <= maxLogLine+1 {
				l.line = append(l.line, chunk...)
			} else {
				long, l.line = true, l.line[:0]
			}
			if err != bufio.ErrBufferFull {
				l.err = err
				break
			}
		}
		if !long && len(l.line) > 0 { // a line, or the last one, unended
			l.line = bytes.TrimSuffix(l.line, []byte("\n"))
			if len(l.line) > maxLogLine { // the last one, unended, too long
				continue
			}
			l.line = bytes.TrimSuffix(l.line, []byte("\r")) // as bufio.ScanLines
			return true
		}
	}
	return false
}

// Bytes is the line Scan moved to, without its newline.
func (l *lineReader) Bytes() []byte { return l.line }

// Err is the read error that ended Scan, if it was not the end.
func (l *lineReader) Err() error {
	if l.err == io.EOF {
		return nil
	}
	return l.err
}

// earlier reports whether line a's time is before line b's. The times'
// first 19 bytes (to the second) compare as text; within a second they
// are parsed (RFC 3339 drops a fraction's trailing zeros). A line without
// a time comes before any with one, so that it holds none of them up.
func earlier(a, b []byte) bool {
	ta, tb := timeField(a), timeField(b)
	if len(ta) < 19 || len(tb) < 19 {
		return len(ta) < 19 && len(tb) >= 19
	}
	if c := bytes.Compare(ta[:19], tb[:19]); c != 0 {
		return c < 0
	}
	pa, errA := time.Parse(time.RFC3339Nano, string(ta))
	pb, errB := time.Parse(time.RFC3339Nano, string(tb))
	return errA == nil && errB == nil && pa.Before(pb)
}

// logLine is a line followed in one of several logs (src, their index).
type logLine struct {
	src int
	b   []byte
}

// tail is a file followed as it grows (reopened when rotated).
type tail struct {
	name string
	fh   *os.File // nil: opened from its start when it appears
	rest []byte   // a line not yet ended
	skip bool     // dropping a line longer than maxLogLine, up to its end
}

// maxLogLine bounds a followed line: a sidecar taken over could write one
// without end, which a follower must not hold. Ours write a few hundred
// bytes; a longer line is dropped whole.
const maxLogLine = 1 << 20

// openTail is a tail of name from offset from on (from its start when
// the file is shorter: it was rotated since).
func openTail(name string, from int64) *tail {
	t := &tail{name: name}
	fh, err := openLog(name)
	if err != nil {
		return t
	}
	if st, err := fh.Stat(); err == nil && from > st.Size() {
		from = 0
	}
	fh.Seek(max(from, 0), io.SeekStart)
	t.fh = fh
	return t
}

// read gives the whole lines appended since the last read (up to a few
// maxLogLine a call; the rest comes at the next), and whether the file was
// rotated (a new inode): what was left of the old one is read first, the
// next read opens the new one.
func (t *tail) read(buf []byte) (lines [][]byte, rotated bool) {
	if t.fh == nil {
		t.fh, _ = openLog(t.name) // not there yet: its writer makes it on start
		if t.fh == nil {
			return nil, false
		}
	}
	drained := false
	for !drained && len(t.rest) < 4*maxLogLine {
		n, err := t.fh.Read(buf)
		t.rest = append(t.rest, buf[:n]...)
		drained = n == 0 || err != nil
	}
	if t.skip {
		if i := bytes.IndexByte(t.rest, '\n'); i >= 0 {
			t.rest, t.skip = t.rest[i+1:], false
		} else {
			t.rest = t.rest[:0]
		}
	}
	if i := bytes.LastIndexByte(t.rest, '\n'); i >= 0 {
		for _, line := range bytes.Split(t.rest[:i], []byte{'\n'}) {
			if len(line) <= maxLogLine {
				lines = append(lines, line)
			}
		}
		t.rest = t.rest[i+1:]
	}
	if len(t.rest) > maxLogLine {
		t.rest, t.skip = nil, true
	}
	if !drained {
		return lines, false
	}
	if st, err := os.Stat(t.name); err == nil {
		if cur, err := t.fh.Stat(); err == nil && !os.SameFile(st, cur) {
			t.fh.Close()
			t.fh, t.rest, t.skip = nil, nil, false
			return lines, true
		}
	}
	return lines, false
}

// followLines reads what is appended to the tails' files and gives batch
// the whole lines read, in time order, every interval until ctx ends
// (with none when nothing came). A tail's src is its index; with the
// tails of decisionDirs, the caller drops what is not ofItsLog (it counts
// their bytes). The tails' files are closed when it returns.
func followLines(ctx context.Context, tails []*tail, every time.Duration, batch func(lines []logLine)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	buf := make([]byte, 64<<10)
	for {
		var lines []logLine
		for i, t := range tails {
			for rotated := true; rotated; {
				var got [][]byte
				got, rotated = t.read(buf)
				for _, b := range got {
					lines = append(lines, logLine{i, b})
				}
			}
		}
		sort.SliceStable(lines, func(i, j int) bool { return earlier(lines[i].b, lines[j].b) })
		batch(lines)
		select {
		case <-ctx.Done():
			for _, t := range tails {
				if t.fh != nil {
					t.fh.Close()
				}
			}
			return
		case <-tick.C:
		}
	}
}
