package builtins

// Audit family: the bottle's audit log (audit.jsonl) and the diffs it
// holds. An audit line written by a run that is rolled back is removed
// again: the log records what stayed. An intent is not removed: its change
// may have been live for a moment before the rollback, so the rollback
// appends a "rolled back" line for it instead. An intent with no line after
// it is a run that was killed in between (see docs/DESIGN.md, "The audit
// log"). The builtins and what they return: `bottle builtins`, from the
// entries below.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/appendlog"
)

func auditBuiltins() []Builtin {
	return []Builtin{
		def("diff", `diff(before, after, name="") -> text`, "the unified diff of two texts; \"\" when equal", pure, diff),
		def("audit", `audit(slug, action, before="", after="") -> None`,
			"append one JSON line {time, action, recipe, args, diff} to <state root>/<slug>/audit.jsonl (0600), whole or not at all", effect, audit),
		def("audit_intent", `audit_intent(slug, action, before="", after="") -> id`,
			"append an intent line (phase \"intent\", a change about to go live) to audit.jsonl; a rollback appends \"rolled back\" for it", effect, auditIntent),
		def("audit_done", `audit_done(slug, id, via="") -> None`,
			"append a done line for intent id (phase \"done\": its change is live) to audit.jsonl; via says how it went live (e.g. \"reload\", \"restart\")", effect, auditDone),
	}
}

func unifiedDiff(name, before, after string) string {
	if before == after {
		return ""
	}
	from, to := "before", "after"
	if name != "" {
		from, to = "a/"+name, "b/"+name
	}
	return udiff.Unified(from, to, before, after)
}

func diff(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var before, after, label string
	if err := starlark.UnpackArgs(name, args, kwargs, "before", &before, "after", &after, "name?", &label); err != nil {
		return nil, err
	}
	return starlark.String(unifiedDiff(label, before, after)), nil
}

// auditEntry is one line of audit.jsonl.
type auditEntry struct {
	Time   string            `json:"time"`
	Action string            `json:"action"`
	Recipe string            `json:"recipe"`
	Args   map[string]string `json:"args"`
	Diff   string            `json:"diff"`
	Phase  string            `json:"phase,omitempty"` // "intent", "done", "rolled back"; "" for a plain audit()
	ID     string            `json:"id,omitempty"`    // pairs an intent with its outcome
	Via    string            `json:"via,omitempty"`   // how a done change went live: "reload", "restart"
}

func newEntry(env *Env, action, diff, phase, id string) auditEntry {
	now := time.Now()
	if env.Now != nil {
		now = env.Now()
	}
	e := auditEntry{Time: now.UTC().Format(time.RFC3339Nano), Action: action, Recipe: env.Recipe,
		Args: env.Args, Diff: diff, Phase: phase, ID: id}
	if e.Args == nil {
		e.Args = map[string]string{}
	}
	return e
}

func unpackAudit(name string, args starlark.Tuple, kwargs []starlark.Tuple) (slug, action, before, after string, err error) {
	if err = starlark.UnpackArgs(name, args, kwargs, "slug", &slug, "action", &action,
		"before?", &before, "after?", &after); err != nil {
		return
	}
	if err = checkSlug(name, slug); err != nil {
		return
	}
	if action == "" {
		err = fmt.Errorf("%s: action is empty; say what was done, e.g. \"allowlist_apply\"", name)
	}
	return
}

func audit(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	slug, action, before, after, err := unpackAudit(name, args, kwargs)
	if err != nil {
		return nil, err
	}
	path, size, err := appendAudit(env, name, slug, newEntry(env, action, unifiedDiff(action, before, after), "", ""))
	if err != nil || path == "" {
		return starlark.None, err
	}
	recordUndo(env, "remove audit line from "+path, func(context.Context) error {
		if size == 0 {
			return os.Remove(path)
		}
		return os.Truncate(path, size)
	})
	return starlark.None, nil
}

func auditIntent(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	slug, action, before, after, err := unpackAudit(name, args, kwargs)
	if err != nil {
		return nil, err
	}
	id, err := newToken()
	if err != nil {
		return nil, err
	}
	id = id[:12]
	path, _, err := appendAudit(env, name, slug, newEntry(env, action, unifiedDiff(action, before, after), "intent", id))
	if err != nil {
		return nil, err
	}
	if env.intents == nil {
		env.intents = map[string]string{}
	}
	env.intents[id] = slug + "\x00" + action
	if path != "" {
		// Not a truncation: the change may have been live for a moment.
		recordUndo(env, "audit: "+action+" rolled back", func(context.Context) error {
			_, _, err := appendAudit(env, name, slug, newEntry(env, action, "", "rolled back", id))
			return err
		})
	}
	return starlark.String(id), nil
}

func auditDone(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var slug, id, via string
	if err := starlark.UnpackArgs(name, args, kwargs, "slug", &slug, "id", &id, "via?", &via); err != nil {
		return nil, err
	}
	key, ok := env.intents[id]
	intentSlug, action, _ := strings.Cut(key, "\x00")
	if !ok || intentSlug != slug {
		return nil, fmt.Errorf("%s: no intent %q of bottle %q in this run; pass the id audit_intent(%q, ...) returned", name, id, slug, slug)
	}
	entry := newEntry(env, action, "", "done", id)
	entry.Via = via
	_, _, err := appendAudit(env, name, slug, entry)
	return starlark.None, err
}

// appendAudit appends entry to the bottle's audit.jsonl, whole or not at
// all, and returns the path and the size before ("" under --dry-run, which
// only prints the line).
func appendAudit(env *Env, name, slug string, entry auditEntry) (string, int64, error) {
	line, err := json.Marshal(entry)
	if err != nil {
		return "", 0, err
	}
	line = append(line, '\n')
	if env.StateRoot == "" {
		return "", 0, fmt.Errorf("%s: no state root; pass --state DIR or set BOTTLE_STATE_DIR", name)
	}
	path := filepath.Join(env.StateRoot, slug, "audit.jsonl")
	if env.DryRun {
		dryRun(env, fmt.Sprintf("append to %s: %s", path, bytes.TrimSuffix(line, []byte("\n"))), "")
		return "", 0, nil
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		return "", 0, fmt.Errorf("%s: bottle %q has no state directory %s; call state_dir(%q) first", name, slug, filepath.Dir(path), slug)
	}
	size, err := appendlog.Append(path, line, 0o600)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", name, err)
	}
	return path, size, nil
}
