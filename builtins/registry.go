// Package builtins holds the Starlark-facing functions of bottle recipes, one
// file per family (files, lock, tls, network, compose, container, image,
// runtimes, engines, codecs, allowlist, routes, gitgate, audit, misc, params). A builtin
// unpacks its arguments, calls the engine or the filesystem through the
// run's Env, records its undo in the journal and converts the result.
//
// The registry below is the one description of every builtin: its entry
// (signature, return shape, one line of doc) is what the interpreter
// predeclares, what `bottle builtins` prints, and what docs/DESIGN.md's
// tables are generated from (`bottle builtins --markdown`; a test in
// cmd/bottle fails when they disagree).
//
// Every builtin is wrapped once, in def below: a builtin with side effects
// refuses to run while a module is being loaded (see SetLoading), every effect
// or engine step reports one Progress.Step, and every error a builtin returns
// starts with the builtin's name.
package builtins

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/editdist"
)

// Builtin is one entry of the registry.
//
// Module members (yaml.encode, json.decode, ...) appear in All as their own
// entries named "module.member", right after their module; Predeclared holds
// only the top-level names.
type Builtin struct {
	Name    string
	Sig     string // e.g. "network_create(name, internal=False, subnet=None, labels=None)"
	Returns string // the shape of the result, e.g. "struct(name, id, ...)"; "" for a module
	Doc     string // one line
	Effect  bool   // creates or changes something: refused while a module loads
	Family  string // the file it lives in, without .go: "files", "network", ...
	// Upstream is true for members of go.starlark.net's own modules (time,
	// math, json), which that project documents.
	Upstream bool
	Value    starlark.Value
}

// kind says how the wrapper treats a builtin.
type kind int

const (
	pure   kind = iota // no side effects, no progress event
	step               // talks to the engine but changes nothing: reports progress
	effect             // creates or changes something: refused while loading, reports progress
)

// impl is the body of a builtin: it gets the run's Env and its own name
// (for Unpack errors) and returns the result.
type impl func(thread *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

// def wraps fn into a registry entry. It is the one place where the rules
// shared by every builtin are applied. sig is "name(params) -> result".
func def(name, sig, doc string, k kind, fn impl) Builtin {
	sig, returns, _ := strings.Cut(sig, " -> ")
	params := paramsOf(sig)
	b := starlark.NewBuiltin(name, func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if k == effect {
			if mod := Loading(thread); mod != "" {
				return nil, fmt.Errorf("%s: side effects are not allowed while loading %s; call it from a function the recipe runs", name, mod)
			}
		}
		env := EnvOf(thread)
		if k != pure {
			if env.Help != nil {
				return nil, ErrNoParams
			}
			if env.stepped == "" {
				env.stepped = name + "()"
			}
		}
		start := time.Now()
		v, err := fn(thread, env, name, args, kwargs)
		if err != nil && !strings.HasPrefix(err.Error(), name+":") && !strings.HasPrefix(err.Error(), name+" ") {
			// Engine errors normally name the object; when one does not, say it.
			if d := detailOf(args, kwargs); k != pure && d != "" && !strings.Contains(err.Error(), d) {
				err = fmt.Errorf("%s %s: %w", name, d, err)
			} else {
				err = fmt.Errorf("%s: %w", name, err)
			}
		}
		if err != nil {
			err = suggestKeyword(err, params)
			err = withUsage(err, sig)
		}
		if k != pure && env.Progress != nil {
			env.Progress.Step(name, detailOf(args, kwargs), time.Since(start), err)
		}
		if err != nil {
			return nil, err
		}
		if v == nil {
			v = starlark.None
		}
		return v, nil
	})
	return Builtin{Name: name, Sig: sig, Returns: returns, Doc: doc, Effect: k == effect, Value: b}
}

// detailOf describes a call for progress lines: its first argument, which by
// convention names the object the builtin acts on.
func detailOf(args starlark.Tuple, kwargs []starlark.Tuple) string {
	var v starlark.Value
	if len(args) > 0 {
		v = args[0]
	} else if len(kwargs) > 0 {
		v = kwargs[0][1]
	}
	switch v := v.(type) {
	case starlark.String:
		// A multi-line string (edit's text, a spec) says nothing on one line.
		if !strings.Contains(string(v), "\n") {
			return string(v)
		}
	case starlark.Callable: // on_failure(fn)
		return v.Name()
	}
	return ""
}

// paramsOf returns the parameter names of a signature such as
// "write_inplace(path, content, mode=None)".
func paramsOf(sig string) []string {
	open, end := strings.IndexByte(sig, '('), strings.LastIndexByte(sig, ')')
	if open < 0 || end < open {
		return nil
	}
	var names []string
	for _, p := range strings.Split(sig[open+1:end], ",") {
		p = strings.TrimLeft(strings.TrimSpace(p), "*")
		if i := strings.IndexByte(p, '='); i >= 0 {
			p = p[:i]
		}
		if p != "" {
			names = append(names, p)
		}
	}
	return names
}

var unexpectedKeyword = regexp.MustCompile(`unexpected keyword argument "?([A-Za-z_0-9]+)"?$`)

// suggestKeyword adds "(did you mean mode?)" to an unexpected-keyword error
// that lacks it: starlark.UnpackArgs only considers some parameters.
func suggestKeyword(err error, params []string) error {
	m := unexpectedKeyword.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	best := editdist.Closest(m[1], params)
	if best == "" {
		return err
	}
	return fmt.Errorf("%w (did you mean %s?)", err, best)
}

// argumentError matches starlark.UnpackArgs's errors about the shape of a
// call (not about a value a builtin checks itself).
var argumentError = regexp.MustCompile(`unexpected keyword argument|missing argument for|got \d+ arguments, want|multiple values for parameter|for parameter \w+: got \w+, want`)

// withUsage adds the builtin's signature to an argument error that has no
// "did you mean" hint: it is what the author needs to fix the call.
func withUsage(err error, sig string) error {
	msg := err.Error()
	if strings.Contains(msg, "did you mean") || !argumentError.MatchString(msg) {
		return err
	}
	return fmt.Errorf("%w; usage: %s", err, sig)
}

var (
	registryOnce sync.Once
	registry     []Builtin
)

// Families lists every family, named as its file, in the order the
// reference presents them; each constructor returns the family's entries.
var Families = []struct {
	Name  string
	Title string
	make  func() []Builtin
}{
	{"network", "Networks", networkBuiltins},
	{"compose", "Compose projects", composeBuiltins},
	{"container", "Containers (a container argument is a name or an id)", containerBuiltins},
	{"image", "Images", imageBuiltins},
	{"runtimes", "Container runtimes", runtimesBuiltins},
	{"engines", "Engines", enginesBuiltins},
	{"files", "Files (relative paths resolve against the run's directory)", filesBuiltins},
	{"lock", "Locks", lockBuiltins},
	{"tls", "TLS", tlsBuiltins},
	{"codecs", "Codecs", codecsBuiltins},
	{"allowlist", "Allowlists", allowlistBuiltins},
	{"routes", "Routes", routesBuiltins},
	{"gitgate", "The git gate", gitGateBuiltins},
	{"audit", "The audit log", auditBuiltins},
	{"params", "Recipe parameters", paramsBuiltins},
	{"misc", "Helpers", miscBuiltins},
}

// All returns every builtin, sorted by name. The slice is shared: do not modify it.
func All() []Builtin {
	registryOnce.Do(func() {
		for _, f := range Families {
			for _, b := range f.make() {
				b.Family = f.Name
				registry = append(registry, b)
			}
		}
		slices.SortFunc(registry, func(a, b Builtin) int { return strings.Compare(a.Name, b.Name) })
		for i := 1; i < len(registry); i++ {
			if registry[i].Name == registry[i-1].Name {
				panic("builtins: duplicate builtin " + registry[i].Name)
			}
		}
	})
	return registry
}

// Predeclared returns a fresh dict of the top-level builtins and modules, for
// the interpreter's predeclared environment.
func Predeclared() starlark.StringDict {
	d := make(starlark.StringDict, len(All()))
	for _, b := range All() {
		if !strings.Contains(b.Name, ".") {
			d[b.Name] = b.Value
		}
	}
	return d
}
