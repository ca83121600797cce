package gitgate

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"
	gitleaks "github.com/zricethezav/gitleaks/v8/report"
)

// secretScanner scans pushed blobs with gitleaks' default rules (its
// maintained set of a few hundred credential formats). The detector is
// built once, on the first push that asks for a scan.
//
// Most rules run on pieces of a blob (see pieceRule): gitleaks runs a
// rule's regular expression only on text that holds one of its keywords,
// and a piece of a few KiB holds far fewer keywords than a whole file.
// The other rules (unbounded matches such as a private key block, or
// matches that need not hold a keyword) run on the whole blob.
type secretScanner struct {
	once     sync.Once
	detector *detect.Detector // every rule; Detect keeps no state (only DetectSource does): shared
	whole    *detect.Detector // the rules that see the whole blob
	pieces   *detect.Detector // the rules that see pieces
	overlap  reach            // the farthest a piece rule's match reaches
	err      error
}

// scanHit is one credential found: where, and by which rule. It never
// holds the secret.
type scanHit struct {
	Path string
	Line int
	Rule string
}

func (h scanHit) String() string {
	return fmt.Sprintf("%s:%d (%s)", h.Path, h.Line, h.Rule)
}

// maxScanBlob is the largest blob scanned; bigger ones are data, not config.
const maxScanBlob = 10 << 20

func (s *secretScanner) init() error {
	s.once.Do(func() {
		// gitleaks logs through a global zerolog logger to stderr; the gate
		// reports findings itself, without the secret.
		logging.Logger = logging.Logger.Output(io.Discard)
		s.detector, s.err = detect.NewDetectorDefaultConfig()
		if s.err == nil {
			s.split()
		}
	})
	return s.err
}

// maxOverlap bounds the overlap of pieces: a rule whose match may be
// longer, in bytes and in lines, runs on the whole blob.
var maxOverlap = reach{bytes: 1 << 10, lines: 32}

// pieceSize is how much new text a piece brings, before its overlap.
const pieceSize = 4 << 10

// split divides the rules between the whole-blob and the piece detector.
func (s *secretScanner) split() {
	whole, pieces := s.detector.Config, s.detector.Config
	whole.Rules, pieces.Rules = map[string]config.Rule{}, map[string]config.Rule{}
	whole.Keywords, pieces.Keywords = map[string]struct{}{}, map[string]struct{}{}
	for id, r := range s.detector.Config.Rules {
		into := whole
		if span, ok := pieceRule(r); ok && span.lines <= maxOverlap.lines {
			into = pieces
			s.overlap.lines = max(s.overlap.lines, span.lines)
			if span.bytes < 0 || span.bytes > maxOverlap.bytes {
				s.overlap.bytes = -1 // the lines bound it
			} else if s.overlap.bytes >= 0 {
				s.overlap.bytes = max(s.overlap.bytes, span.bytes)
			}
		}
		into.Rules[id] = r
		for _, k := range r.Keywords {
			into.Keywords[strings.ToLower(k)] = struct{}{}
		}
	}
	s.whole, s.pieces = detect.NewDetector(whole), detect.NewDetector(pieces)
	for _, d := range []*detect.Detector{s.detector, s.whole, s.pieces} {
		// The agent writes what is pushed: its own "gitleaks:allow" on a
		// line vouches for nothing.
		d.IgnoreGitleaksAllow = true
	}
}

// detect returns what gitleaks' Detect returns for the whole text with
// all the rules: the whole-blob rules on the text, the others on pieces
// that begin and end at line ends and overlap by the farthest any of
// their matches reaches (in bytes, or else in lines), so a match lies
// wholly in the piece where it starts.
func (s *secretScanner) detect(name, text string) []gitleaks.Finding {
	if strings.ContainsRune(text, 'ſ') {
		// The long s matches "s" in a rule's (?i) but lower-cases to
		// itself, so "ſecret" holds no keyword "secret": gitleaks runs
		// the rule if the keyword is elsewhere in the blob, which a piece
		// may not hold. (It is the only rune that folds to a letter of a
		// keyword and lower-cases to another.)
		return s.detector.Detect(detect.Fragment{Raw: text, FilePath: name})
	}
	found := s.whole.Detect(detect.Fragment{Raw: text, FilePath: name})
	seen := map[[5]string]bool{}
	line := 0
	for start := 0; start < len(text); {
		end := lineEnd(text, start+pieceSize)
		piece := text[start:s.pieceEnd(text, end)]
		for _, f := range s.pieces.Detect(detect.Fragment{Raw: piece, FilePath: name, StartLine: line}) {
			if start > 0 {
				columnsAfterNewline(&f, line)
			}
			key := [5]string{f.RuleID, fmt.Sprint(f.StartLine), fmt.Sprint(f.StartColumn), fmt.Sprint(f.EndLine), fmt.Sprint(f.EndColumn)}
			if !seen[key] {
				seen[key] = true
				found = append(found, f)
			}
		}
		line += strings.Count(text[start:end], "\n")
		start = end
	}
	return preferSpecific(found)
}

// columnsAfterNewline makes the columns of a finding on a piece's first
// line what they are in the whole text: gitleaks counts a column from the
// newline before it, and at a fragment's start there is none.
func columnsAfterNewline(f *gitleaks.Finding, first int) {
	if f.StartLine == first {
		f.StartColumn++
	}
	if f.EndLine == first {
		f.EndColumn++
	}
}

// pieceEnd is where the piece whose own text ends at end ends: past the
// farthest a match that starts before end reaches.
func (s *secretScanner) pieceEnd(text string, end int) int {
	if s.overlap.bytes >= 0 {
		return lineEnd(text, end+s.overlap.bytes)
	}
	for range s.overlap.lines {
		end = lineEnd(text, end)
	}
	return end
}

// lineEnd is the index just after the first newline at or after i, or the
// text's end.
func lineEnd(text string, i int) int {
	if i >= len(text) {
		return len(text)
	}
	if n := strings.IndexByte(text[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(text)
}

// preferSpecific drops a generic rule's finding where a specific rule
// found the same secret on the same line, as gitleaks does within one
// Detect call.
func preferSpecific(found []gitleaks.Finding) []gitleaks.Finding {
	generic := func(f gitleaks.Finding) bool { return strings.Contains(strings.ToLower(f.RuleID), "generic") }
	var kept []gitleaks.Finding
	for _, f := range found {
		drop := false
		for _, g := range found {
			if generic(f) && !generic(g) && f.StartLine == g.StartLine && f.RuleID != g.RuleID && strings.Contains(g.Secret, f.Secret) {
				drop = true
				break
			}
		}
		if !drop {
			kept = append(kept, f)
		}
	}
	return kept
}

// scan returns the hits in the blobs the pack adds, named by the path they
// have in the pushed commits' trees (a blob no tree names by its id), and
// in the messages of the commits
// and tags it adds ("message of commit 1234abcd"), sorted by path and line.
func (s *secretScanner) scan(p *pushedPack) ([]scanHit, error) {
	if err := s.init(); err != nil {
		return nil, fmt.Errorf("the secret scanner did not start: %v", err)
	}
	blobs := map[plumbing.Hash]string{}
	messages := map[string]string{} // what is scanned: a commit's or tag's message, by its name
	iter, err := p.store.IterEncodedObjects(plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	err = iter.ForEach(func(o plumbing.EncodedObject) error {
		c, err := object.DecodeCommit(p.store, o)
		if err != nil {
			return err
		}
		messages["message of commit "+c.Hash.String()[:12]] = c.Message
		p.addedBlobs(c.TreeHash, "", blobs, map[plumbing.Hash]bool{})
		return nil
	})
	if err != nil {
		return nil, err
	}
	tags, err := p.store.IterEncodedObjects(plumbing.TagObject)
	if err != nil {
		return nil, err
	}
	err = tags.ForEach(func(o plumbing.EncodedObject) error {
		tag, err := object.DecodeTag(p.store, o)
		if err != nil {
			return err
		}
		messages["message of tag "+tag.Name] = tag.Message
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every blob of the pack, named or not: git keeps a blob no pushed tree
	// names, and a host that serves objects by id hands it out.
	var targets []scanTarget
	all, err := p.store.IterEncodedObjects(plumbing.BlobObject)
	if err != nil {
		return nil, err
	}
	_ = all.ForEach(func(o plumbing.EncodedObject) error {
		name, ok := blobs[o.Hash()]
		if !ok {
			name = "blob " + o.Hash().String()[:12] + " (named by no pushed tree)"
		}
		targets = append(targets, scanTarget{name: name, blob: o.Hash()})
		return nil
	})
	for name, message := range messages {
		targets = append(targets, scanTarget{name: name, text: message, isText: true})
	}
	hits := s.scanAll(p, targets)
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Path != hits[j].Path {
			return hits[i].Path < hits[j].Path
		}
		return hits[i].Line < hits[j].Line
	})
	return hits, nil
}

// scanTarget is a blob of the pack, or a message, and the name a hit gives.
type scanTarget struct {
	name   string
	blob   plumbing.Hash
	text   string
	isText bool
}

// scanAll scans the targets on every core: the regular expressions of a
// few hundred rules are most of what a push costs in the gate.
func (s *secretScanner) scanAll(p *pushedPack, targets []scanTarget) []scanHit {
	work := make(chan scanTarget)
	var mu sync.Mutex
	var hits []scanHit
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				content := t.text
				if !t.isText {
					b, ok := p.blob(t.blob)
					if !ok {
						continue
					}
					content = string(b)
				}
				for _, f := range s.detect(t.name, content) {
					mu.Lock()
					hits = append(hits, scanHit{Path: t.name, Line: f.StartLine + 1, Rule: f.RuleID})
					mu.Unlock()
				}
			}
		}()
	}
	for _, t := range targets {
		work <- t
	}
	close(work)
	wg.Wait()
	return hits
}

// addedBlobs records, under their paths, the blobs of tree that the pack
// holds, descending only into trees the pack holds (the others are the
// upstream's already, and so are their blobs).
func (p *pushedPack) addedBlobs(tree plumbing.Hash, dir string, out map[plumbing.Hash]string, seen map[plumbing.Hash]bool) {
	if seen[tree] || !p.has(tree) {
		return
	}
	seen[tree] = true
	t, err := object.GetTree(p.store, tree)
	if err != nil {
		return
	}
	for _, e := range t.Entries {
		name := path.Join(dir, e.Name)
		switch {
		case e.Mode == filemode.Dir:
			p.addedBlobs(e.Hash, name, out, seen)
		case e.Mode.IsFile() && p.has(e.Hash):
			if _, ok := out[e.Hash]; !ok {
				out[e.Hash] = name
			}
		}
	}
}

// blob returns a blob's content when it is text of a scannable size.
func (p *pushedPack) blob(h plumbing.Hash) ([]byte, bool) {
	o, err := p.store.EncodedObject(plumbing.BlobObject, h)
	if err != nil || o.Size() > maxScanBlob {
		return nil, false
	}
	r, err := o.Reader()
	if err != nil {
		return nil, false
	}
	defer r.Close()
	content, err := io.ReadAll(r)
	if err != nil || bytes.IndexByte(content[:min(len(content), 8000)], 0) >= 0 {
		return nil, false // binary
	}
	return content, true
}
