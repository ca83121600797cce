package egress

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// The decision log: the access log's lines, kept on the host. With
// --state DIR the egress appends every line to DIR/decisions.jsonl (the
// bottle's <state>/<slug>/egress, so it survives stop and start) as well
// as to stdout. The file is bounded: when a write would take it past
// DecisionsMax bytes it is renamed to decisions.jsonl.1 (.1 to .2, ...,
// the oldest of DecisionsKeep dropped) and a new one started, always at a
// line boundary (the BatchWriter in front of it writes whole lines).
// `bottle logs SLUG` reads them, oldest first.
const (
	DecisionsFile = "decisions.jsonl"
	DecisionsKeep = 4        // decisions.jsonl and .1 to .3: at most 4 x DecisionsMax
	DecisionsMax  = 32 << 20 // bytes a file holds before it is rotated
)

// DecisionFiles are the decision log's files in dir, oldest first (some
// may not exist).
func DecisionFiles(dir string) []string {
	var out []string
	for i := DecisionsKeep - 1; i >= 1; i-- {
		out = append(out, filepath.Join(dir, DecisionsFile+"."+strconv.Itoa(i)))
	}
	return append(out, filepath.Join(dir, DecisionsFile))
}

// RotatingFile appends to a file and rotates it at Max bytes. Writes must
// be whole lines (or batches of them).
type RotatingFile struct {
	Path string
	Max  int64
	Keep int // files kept, the live one included

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenRotating opens (creating) path for appending.
func OpenRotating(path string, max int64, keep int) (*RotatingFile, error) {
	r := &RotatingFile{Path: path, Max: max, Keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	if r.size > 0 && r.size+int64(len(p)) > r.Max {
		if err := r.rotate(); err != nil {
			return 0, fmt.Errorf("rotating %s: %v", r.Path, err)
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate renames path to path.1, path.1 to path.2..., dropping the oldest,
// and opens a new path.
func (r *RotatingFile) rotate() error {
	r.f.Close()
	r.f = nil
	for i := r.Keep - 1; i >= 1; i-- {
		from := r.Path
		if i > 1 {
			from = r.Path + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, r.Path+"."+strconv.Itoa(i)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return r.open()
}

// Close closes the file.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
