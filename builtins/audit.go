package builtins

// Audit family: audit, diff.
//
//	diff(before, after, name="") -> unified diff, "" when equal
//	audit(slug, action, before="", after="") -> None; appends one JSON line
//	    {time, action, recipe, args, diff} to <state root>/<slug>/audit.jsonl (0600)
//
// An audit line written by a run that is rolled back is removed again: the
// log records what stayed.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/appendlog"
)

func auditBuiltins() []Builtin {
	return []Builtin{
		def("diff", `diff(before, after, name="")`, "unified diff of two texts; \"\" when equal", pure, diff),
		def("audit", `audit(slug, action, before="", after="")`,
			"append {time, action, recipe, args, diff} to the bottle's audit.jsonl", effect, audit),
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
}

func audit(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var slug, action, before, after string
	if err := starlark.UnpackArgs(name, args, kwargs, "slug", &slug, "action", &action,
		"before?", &before, "after?", &after); err != nil {
		return nil, err
	}
	if err := checkSlug(name, slug); err != nil {
		return nil, err
	}
	if action == "" {
		return nil, fmt.Errorf("%s: action is empty; say what was done, e.g. \"allowlist_apply\"", name)
	}
	now := time.Now()
	if env.Now != nil {
		now = env.Now()
	}
	entry := auditEntry{Time: now.UTC().Format(time.RFC3339Nano), Action: action, Recipe: env.Recipe,
		Args: env.Args, Diff: unifiedDiff(action, before, after)}
	if entry.Args == nil {
		entry.Args = map[string]string{}
	}
	line, err := json.Marshal(entry)
	if err != nil {
		return nil, err
	}
	line = append(line, '\n')
	if env.StateRoot == "" {
		return nil, fmt.Errorf("%s: no state root; pass --state DIR or set BOTTLE_STATE_DIR", name)
	}
	path := filepath.Join(env.StateRoot, slug, "audit.jsonl")
	if env.DryRun {
		dryRun(env, fmt.Sprintf("append to %s: %s", path, bytes.TrimSuffix(line, []byte("\n"))), "")
		return starlark.None, nil
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: bottle %q has no state directory %s; call state_dir(%q) first", name, slug, filepath.Dir(path), slug)
	}
	size, err := appendlog.Append(path, line, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	recordUndo(env, "remove audit line from "+path, func(context.Context) error {
		if size == 0 {
			return os.Remove(path)
		}
		return os.Truncate(path, size)
	})
	return starlark.None, nil
}
