package gitgate

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"
)

// secretScanner scans pushed blobs with gitleaks' default rules (its
// maintained set of a few hundred credential formats). The detector is
// built once, on the first push that asks for a scan.
type secretScanner struct {
	once     sync.Once
	detector *detect.Detector // Detect keeps no state (only DetectSource does): shared
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
			// The agent writes what is pushed: its own "gitleaks:allow"
			// on a line vouches for nothing.
			s.detector.IgnoreGitleaksAllow = true
		}
	})
	return s.err
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
				for _, f := range s.detector.Detect(detect.Fragment{Raw: content, FilePath: t.name}) {
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
