package gitgate

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// pushedPack is the objects of a pushed pack, parsed in memory.
type pushedPack struct {
	store   *memory.Storage
	commits int
}

// parsePack checks the pack's declared sizes against limit (the pack bomb:
// a small pack whose objects or deltas inflate to far more) and then
// parses it with go-git into memory. The agent's git sends no thin pack
// (the gate advertises no-thin), so every delta resolves inside the pack.
func parsePack(pack []byte, limit int64) (*pushedPack, error) {
	if _, err := checkInflated(pack, limit); err != nil {
		return nil, err
	}
	store := memory.NewStorage()
	parser, err := packfile.NewParserWithStorage(packfile.NewScanner(bytes.NewReader(pack)), store)
	if err != nil {
		return nil, err
	}
	if _, err := parser.Parse(); err != nil {
		return nil, fmt.Errorf("the pushed pack is malformed: %v", err)
	}
	p := &pushedPack{store: store}
	iter, err := store.IterEncodedObjects(plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	_ = iter.ForEach(func(plumbing.EncodedObject) error { p.commits++; return nil })
	return p, nil
}

// checkInflated walks the pack's object headers and refuses it when the
// objects would take more than limit bytes once inflated: a base object's
// size is in its header, a delta's result size in the delta's own header
// (read from its first bytes; go-git inflates no more than the header
// declares).
//
// It returns the number of commits stored whole (git seldom deltifies a
// commit), which the record gives when the pack is not parsed.
func checkInflated(pack []byte, limit int64) (int, error) {
	sc := packfile.NewScanner(bytes.NewReader(pack))
	_, count, err := sc.Header()
	if err != nil {
		return 0, fmt.Errorf("the pushed pack is malformed: %v", err)
	}
	if int64(count) > int64(len(pack)) {
		return 0, fmt.Errorf("the pushed pack claims %d objects in %d bytes", count, len(pack))
	}
	bomb := fmt.Errorf("the pushed objects inflate to more than %d bytes (the pack is %d bytes): refused as a pack bomb", limit, len(pack))
	commits := 0
	var total int64 // at most limit: each size is checked against what is left, so the sum cannot wrap
	for i := uint32(0); i < count; i++ {
		oh, err := sc.NextObjectHeader()
		if err != nil {
			return 0, fmt.Errorf("the pushed pack is malformed: %v", err)
		}
		size := oh.Length
		if oh.Type == plumbing.CommitObject {
			commits++
		}
		head := &headWriter{}
		if _, _, err := sc.NextObject(head); err != nil {
			return 0, fmt.Errorf("the pushed pack is malformed: %v", err)
		}
		if oh.Type == plumbing.OFSDeltaObject || oh.Type == plumbing.REFDeltaObject {
			target, err := deltaTargetSize(head.buf)
			if err != nil {
				return 0, fmt.Errorf("the pushed pack is malformed: %v", err)
			}
			if target > limit {
				return 0, bomb
			}
			size += target // both below 2^63: a sum past it wraps negative, refused below
		}
		if size < 0 || size > limit-total {
			return 0, bomb
		}
		total += size
	}
	return commits, nil
}

// headWriter keeps the first bytes written to it and counts the rest.
type headWriter struct {
	buf []byte
}

func (h *headWriter) Write(p []byte) (int, error) {
	if room := 32 - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// deltaTargetSize reads a delta's header: the base size and then the
// result size, each a little-endian base-128 number (git's
// Documentation/gitformat-pack.txt); go-git keeps its reader unexported.
func deltaTargetSize(b []byte) (int64, error) {
	r := bytes.NewReader(b)
	if _, err := readVarint(r); err != nil {
		return 0, err
	}
	return readVarint(r)
}

func readVarint(r io.ByteReader) (int64, error) {
	var n int64
	for shift := 0; shift < 63; shift += 7 {
		c, err := r.ReadByte()
		if err != nil {
			return 0, errors.New("a delta's header is cut short")
		}
		n |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			return n, nil
		}
	}
	return 0, errors.New("a delta's header is too long")
}

// fastForward reports whether old is an ancestor of new, walking parents
// only through commits of the pack. False means not proven: the walk left
// the pack (commits the upstream already has) without meeting old.
func (p *pushedPack) fastForward(old, new plumbing.Hash) bool {
	seen := map[plumbing.Hash]bool{}
	queue := []plumbing.Hash{new}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == old {
			return true
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		c, err := object.GetCommit(p.store, h)
		if err != nil {
			continue // not in the pack: the upstream's, unknown to the gate
		}
		queue = append(queue, c.ParentHashes...)
	}
	return false
}

// has reports whether the pack holds the object.
func (p *pushedPack) has(h plumbing.Hash) bool {
	return p.store.HasEncodedObject(h) == nil
}
