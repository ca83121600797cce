package gitgate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bottle-sh/bottle/internal/appendlog"
)

// Record is one fetch or push decision: a line on the records writer
// (stdout and decisions.jsonl) and, for pushes, in the audit file.
type Record struct {
	Time     string      `json:"time"`
	Kind     string      `json:"kind"` // always "git"
	Remote   string      `json:"remote"`
	Op       string      `json:"op"` // fetch or push
	Refs     []RefRecord `json:"refs"`
	Commits  int         `json:"commits"`
	Bytes    int64       `json:"bytes"`
	Decision string      `json:"decision"` // allow or deny
	Rule     string      `json:"rule,omitempty"`
	Reason   string      `json:"reason,omitempty"`
}

// RefRecord is one ref of a record: for a push, its update; for a fetch,
// what was wanted.
type RefRecord struct {
	Ref string `json:"ref"`
	Old string `json:"old,omitempty"`
	New string `json:"new"`
}

// record writes rec's line, and for a push its audit line.
func (g *Gate) record(rec *Record) {
	rec.Time = g.cfg.Now().UTC().Format(time.RFC3339Nano)
	rec.Kind = "git"
	if rec.Refs == nil {
		rec.Refs = []RefRecord{}
	}
	g.writeLine(rec)
	if rec.Op != "push" || g.cfg.AuditFile == "" {
		return
	}
	line, err := json.Marshal(map[string]any{
		"time":   rec.Time,
		"action": "git push",
		"args": map[string]any{
			"remote": rec.Remote, "refs": rec.Refs, "commits": rec.Commits,
			"bytes": rec.Bytes, "decision": rec.Decision, "rule": rec.Rule,
		},
	})
	if err != nil {
		return
	}
	if _, err := appendlog.Append(g.cfg.AuditFile, append(line, '\n'), 0o600); err != nil {
		fmt.Fprintf(g.cfg.Log, "git-gate: audit: %v\n", err)
	}
}
