// Package policy is the git gate's policy: which remotes the agent may reach
// through the gate, and per remote whether it may fetch, which refs a push
// may update, whether force pushes, deletions and tags are allowed, how big
// one push may be and whether pushed content is scanned for secrets.
//
// The same shape is a manifest's git_gate.remotes entry; builtins check a
// file with Parse without running the gate (as egress/routes serves the
// egress and the recipes).
//
//	remotes:
//	  - name: origin                      # [a-z0-9][a-z0-9._-]*, unique
//	    url: git@github.com:acme/app.git  # scp-like ssh, ssh:// or https://
//	    fetch: true                       # default true
//	    push: ["refs/heads/agent/*"]      # patterns; default none: no push
//	    force: false                      # non-fast-forward updates
//	    delete: false                     # ref deletions
//	    tags: false                       # refs/tags/* (still matched by push)
//	    max_push: 100MiB                  # pack bytes of one push
//	    scan: true                        # secret scan of pushed blobs
//	    token_env: ""                     # https: the gate's env var with the token
//
// A push pattern is matched segment by segment ("/" separates them): a
// segment is a path.Match pattern (* and ? stay within the segment, [a-z]
// classes), and a segment "**" matches any number of segments, none
// included.
package policy

import (
	"fmt"
	"path"
	"strings"
)

// DefaultMaxPush is a remote's max_push when the file leaves it out.
const DefaultMaxPush = 100 << 20

// Policy is a parsed policy file.
type Policy struct {
	Remotes []*Remote
}

// Remote is one remote's entry.
type Remote struct {
	Name     string
	URL      string
	Fetch    bool
	Push     []string
	Force    bool
	Delete   bool
	Tags     bool
	MaxPush  int64
	Scan     bool
	TokenEnv string
	Line     int // where the entry starts in its file
}

// Remote returns the remote called name, or nil.
func (p *Policy) Remote(name string) *Remote {
	for _, r := range p.Remotes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Change is what one pushed command does to its ref.
type Change int

const (
	Create      Change = iota // the ref does not exist upstream yet
	FastForward               // old is an ancestor of new (proven from the pack)
	Rewrite                   // not proven to be a fast-forward: a force push
	Deletion                  // the ref is removed
)

// Refusal names the rule that refuses a ref update and says why.
type Refusal struct {
	Rule   string // push, force, delete, tags, refname
	Reason string // one line, without the ref name
}

// CheckRef says whether the remote's policy lets a push change ref as
// change does; nil means allowed. Ref names are checked with RefName first.
func (r *Remote) CheckRef(ref string, change Change) *Refusal {
	if err := RefName(ref); err != nil {
		return &Refusal{Rule: "refname", Reason: err.Error()}
	}
	if !r.MatchPush(ref) {
		if len(r.Push) == 0 {
			return &Refusal{Rule: "push", Reason: fmt.Sprintf("pushes to %s are not allowed (its push list is empty)", r.Name)}
		}
		return &Refusal{Rule: "push", Reason: fmt.Sprintf("not in push patterns of %s (%s)", r.Name, strings.Join(r.Push, ", "))}
	}
	if strings.HasPrefix(ref, "refs/tags/") && !r.Tags {
		return &Refusal{Rule: "tags", Reason: fmt.Sprintf("tags are not allowed on %s (tags: false)", r.Name)}
	}
	switch change {
	case Deletion:
		if !r.Delete {
			return &Refusal{Rule: "delete", Reason: fmt.Sprintf("deleting refs is not allowed on %s (delete: false)", r.Name)}
		}
	case Rewrite:
		if !r.Force {
			return &Refusal{Rule: "force", Reason: fmt.Sprintf("not a fast-forward (none proven from the pushed commits) and force pushes are not allowed on %s (force: false); fetch, rebase onto the remote's ref and push again", r.Name)}
		}
	}
	return nil
}

// MatchPush reports whether ref matches one of the remote's push patterns.
func (r *Remote) MatchPush(ref string) bool {
	for _, p := range r.Push {
		if Match(p, ref) {
			return true
		}
	}
	return false
}

// Match matches a ref name against a push pattern (see the package comment).
// A malformed pattern matches nothing; Parse refuses them.
func Match(pattern, ref string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(ref, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for skip := 0; skip <= len(name); skip++ {
				if matchSegments(pat[1:], name[skip:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// RefName checks a pushed ref name as git's check-ref-format does, so a
// name the gate lets through is one git itself would store: under refs/, no
// "..", "@{", control characters, spaces or any of ~^:?*[\, no component
// starting with "." or ending with ".lock", no empty component, no trailing
// "/" or ".".
func RefName(ref string) error {
	if !strings.HasPrefix(ref, "refs/") {
		return fmt.Errorf("%q is not under refs/", printable(ref))
	}
	if len(ref) > 1024 {
		return fmt.Errorf("ref name is %d bytes long (at most 1024)", len(ref))
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return fmt.Errorf("%q holds a character git does not allow in ref names (%q)", printable(ref), c)
		}
	}
	if strings.Contains(ref, "..") || strings.Contains(ref, "@{") || ref == "@" || strings.HasSuffix(ref, ".") {
		return fmt.Errorf("%q is not a valid ref name (\"..\", \"@{\" or a trailing \".\")", printable(ref))
	}
	for _, part := range strings.Split(ref, "/") {
		if part == "" || strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return fmt.Errorf("%q is not a valid ref name (an empty component, or one starting with \".\" or ending with \".lock\")", printable(ref))
		}
	}
	return nil
}

// printable cuts a ref name for an error message and drops what a terminal
// would act on.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}
