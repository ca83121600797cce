package builtins

// Params family: a recipe declares the KEY=VALUE arguments it takes.
// params() checks every argument `bottle run` got against the declarations:
// an unknown key (with "did you mean"), a value of the wrong type (naming
// its key), a missing required one. Each is a usage error (*ArgsError, exit
// 2). It must come before the recipe's first step, so that such an error
// means nothing ran; and it is what `bottle run RECIPE -h` lists (Env.Help).
// The builtins and what they return: `bottle builtins`, from the entries
// below.

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/bottle-sh/bottle/internal/editdist"
)

func paramsBuiltins() []Builtin {
	return []Builtin{
		def("param", `param(type, doc="", default=None, required=False) -> declaration`,
			`declare a recipe parameter for params(): type "string", "path", "int", "seconds" or "bool"`, pure, paramDecl),
		def("params", "params(**declarations) -> struct",
			"check the recipe's KEY=VALUE arguments against its declarations and return them typed (None for one not given without a default); call it before any step", pure, paramsCall),
	}
}

// paramTypes: how a KEY=VALUE string becomes a value, and what the value
// is called in help and errors.
var paramTypes = map[string]struct {
	meta    string // help: name=META ("" for string: the name in capitals, slug=SLUG)
	parse   func(string) (starlark.Value, error)
	defType string // the Starlark type a default must have
}{
	"string":  {"", func(s string) (starlark.Value, error) { return starlark.String(s), nil }, "string"},
	"path":    {"PATH", parsePath, "string"},
	"int":     {"INT", parseInt, "int"},
	"seconds": {"SECONDS", parseSeconds, "int"},
	"bool":    {"BOOL", parseBool, "bool"},
}

func parsePath(s string) (starlark.Value, error) {
	if s == "" {
		return nil, errors.New("empty path; give a file path (relative to the directory bottle runs in)")
	}
	return starlark.String(s), nil
}

func parseInt(s string) (starlark.Value, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, errors.New("not an integer")
	}
	return starlark.MakeInt64(n), nil
}

func parseSeconds(s string) (starlark.Value, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, errors.New("not an integer (seconds); give whole seconds, e.g. 30")
	}
	if n < 0 || n > 1e9 {
		return nil, errors.New("out of range (seconds, 0 or more)")
	}
	return starlark.MakeInt64(n), nil
}

func parseBool(s string) (starlark.Value, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return starlark.True, nil
	case "0", "false", "no", "off":
		return starlark.False, nil
	}
	return nil, errors.New("not a bool; give 1 or 0 (true/false, yes/no)")
}

// paramSpec is what param() returns: one declared parameter.
type paramSpec struct {
	typ      string
	doc      string
	dflt     starlark.Value // starlark.None: no default
	required bool
}

var _ starlark.Value = (*paramSpec)(nil)

func (p *paramSpec) String() string {
	return fmt.Sprintf("param(%q, doc=%q)", p.typ, p.doc)
}
func (p *paramSpec) Type() string          { return "param" }
func (p *paramSpec) Freeze()               {}
func (p *paramSpec) Truth() starlark.Bool  { return true }
func (p *paramSpec) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: param") }

func paramDecl(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	p := &paramSpec{dflt: starlark.None}
	if err := starlark.UnpackArgs(name, args, kwargs, "type", &p.typ, "doc?", &p.doc, "default?", &p.dflt, "required?", &p.required); err != nil {
		return nil, err
	}
	t, ok := paramTypes[p.typ]
	if !ok {
		return nil, fmt.Errorf("%s: type %q: want one of %s%s", name, p.typ, strings.Join(paramTypeNames(), ", "), didYouMean(p.typ, paramTypeNames()))
	}
	if p.dflt != starlark.None && p.dflt.Type() != t.defType {
		return nil, fmt.Errorf("%s: default %s is a %s; a %s parameter's default is of type %s", name, p.dflt, p.dflt.Type(), p.typ, t.defType)
	}
	if p.required && p.dflt != starlark.None {
		return nil, fmt.Errorf("%s: required=True with a default: give one or the other", name)
	}
	return p, nil
}

func paramTypeNames() []string {
	names := slices.Sorted(maps.Keys(paramTypes))
	return names
}

// didYouMean is " (did you mean x?)" for the name in names nearest to got,
// or "" when none is near enough to be a typo.
func didYouMean(got string, names []string) string {
	best := editdist.Closest(got, names)
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// ArgsError is a recipe invoked with arguments its params() refuses: bottle
// run exits 2 (usage), and nothing has run.
type ArgsError struct {
	Recipe   string
	Problems []string // one line each: "manfest=x: unknown parameter (did you mean manifest?)"
}

func (e *ArgsError) Error() string {
	help := fmt.Sprintf("`bottle run %s -h` lists its parameters", e.Recipe)
	if len(e.Problems) == 1 {
		return fmt.Sprintf("%s: %s; %s", e.Recipe, e.Problems[0], help)
	}
	return fmt.Sprintf("%s: %d bad arguments (%s):\n  %s", e.Recipe, len(e.Problems), help, strings.Join(e.Problems, "\n  "))
}

// ErrHelp is what params() returns after it wrote the recipe's parameters
// to Env.Help: the run stops there, successfully.
var ErrHelp = errors.New("help printed")

// ErrNoParams is what a step returns under Env.Help when the recipe came to
// it without calling params(): it declares no parameters.
var ErrNoParams = errors.New("the recipe declares no parameters")

// declared is one parameter in declaration order.
type declared struct {
	name string
	spec *paramSpec
}

func paramsCall(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%s: declare each parameter by keyword: params(slug = param(\"string\", ...))", name)
	}
	if env.paramsDone {
		return nil, fmt.Errorf("%s: called twice; a recipe declares its parameters once, at its top", name)
	}
	if env.stepped != "" {
		return nil, fmt.Errorf("%s: called after %s; declare the parameters before the recipe's first step, so that a bad argument stops the run before anything is done", name, env.stepped)
	}
	env.paramsDone = true
	decls := make([]declared, len(kwargs))
	for i, kv := range kwargs {
		spec, ok := kv[1].(*paramSpec)
		if !ok {
			return nil, fmt.Errorf("%s: %s: got %s, want param(...)", name, string(kv[0].(starlark.String)), kv[1].Type())
		}
		decls[i] = declared{string(kv[0].(starlark.String)), spec}
	}
	if env.Help != nil {
		writeParamsHelp(env.Help, env.Recipe, decls)
		return nil, ErrHelp
	}
	values, problems := bindArgs(env.Args, decls)
	if len(problems) > 0 {
		return nil, &ArgsError{Recipe: env.Recipe, Problems: problems}
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, values), nil
}

// bindArgs converts the arguments given to the declared types; problems
// lists every unknown key, bad value and missing required parameter.
func bindArgs(given map[string]string, decls []declared) (starlark.StringDict, []string) {
	values := starlark.StringDict{}
	var names []string
	for _, d := range decls {
		names = append(names, d.name)
	}
	var problems []string
	keys := slices.Sorted(maps.Keys(given))
	for _, k := range keys {
		if !contains(names, k) {
			hint := didYouMean(k, names)
			if hint == "" {
				hint = " (parameters: " + strings.Join(names, ", ") + ")"
			}
			problems = append(problems, fmt.Sprintf("%s=%s: unknown parameter%s", k, given[k], hint))
		}
	}
	for _, d := range decls {
		s, ok := given[d.name]
		if !ok {
			if d.spec.required {
				problems = append(problems, fmt.Sprintf("missing %s=%s: %s", d.name, metaOf(d), d.spec.doc))
			}
			values[d.name] = d.spec.dflt
			continue
		}
		v, err := paramTypes[d.spec.typ].parse(s)
		if err == nil && d.spec.required && s == "" {
			err = errors.New("empty; " + d.spec.doc)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%s: %v", d.name, s, err))
			continue
		}
		values[d.name] = v
	}
	return values, problems
}

// metaOf is what help shows after "name=": the type, or for a string the
// name in capitals (slug=SLUG).
func metaOf(d declared) string {
	if m := paramTypes[d.spec.typ].meta; m != "" {
		return m
	}
	return strings.ToUpper(d.name)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeParamsHelp lists the parameters for `bottle run RECIPE -h`.
func writeParamsHelp(w io.Writer, recipe string, decls []declared) {
	fmt.Fprintf(w, "Parameters of %s (KEY=VALUE):\n", recipe)
	width := 0
	lefts := make([]string, len(decls))
	for i, d := range decls {
		lefts[i] = d.name + "=" + metaOf(d)
		width = max(width, len(lefts[i]))
	}
	for i, d := range decls {
		doc := d.spec.doc
		switch {
		case d.spec.required:
			doc = "(required) " + doc
		case d.spec.dflt != starlark.None:
			doc += fmt.Sprintf(" (default %s)", defaultText(d.spec.dflt))
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, lefts[i], strings.TrimSpace(doc))
	}
}

func defaultText(v starlark.Value) string {
	switch v := v.(type) {
	case starlark.String:
		return string(v)
	case starlark.Bool:
		if v {
			return "1"
		}
		return "0"
	}
	return v.String()
}
