package builtins

// Git gate family: git_policy_check, the git gate's own policy parser
// (gitgate/policy) offered to recipes, so that a bad git-gate.yaml fails
// the run before anything changes. The builtin and what it returns:
// `bottle builtins`, from the entry below.

import (
	"errors"
	"fmt"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/gitgate/policy"
)

func gitGateBuiltins() []Builtin {
	return []Builtin{
		def("git_policy_check", "git_policy_check(text, name=None, field=None) -> int",
			"the number of remotes in a git gate policy text (git-gate.yaml), parsed by the gate's own parser; errors name the line and field (as name:line when name is given); with field (the text holds one entry written from another file, e.g. a manifest's git_gate.remotes[0]), they name field.KEY and no line", pure, gitPolicyCheck),
	}
}

func gitPolicyCheck(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	var file starlark.Value = starlark.None
	var field string
	if err := starlark.UnpackArgs(name, args, kwargs, "text", &text, "name?", &file, "field?", &field); err != nil {
		return nil, err
	}
	fname, err := fileName(name, file)
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse([]byte(text))
	var problems policy.Problems
	if field != "" && errors.As(err, &problems) {
		err = fieldProblems(problems, field)
		if fname != "" {
			err = fmt.Errorf("%s: %w", fname, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, withFile(err, fname))
	}
	return starlark.MakeInt(len(p.Remotes)), nil
}

// fieldProblems names each problem of a remote written from another file
// by that file's field (field.KEY) instead of a line of the text written
// from it, which the user never saw.
func fieldProblems(problems policy.Problems, field string) error {
	out := make([]string, len(problems))
	for i, p := range problems {
		at := field
		if p.Field != "remote" && p.Field != "remotes" && p.Field != "file" {
			at += "." + p.Field
		}
		out[i] = at + ": " + p.What
	}
	return errors.New(policy.Join(out))
}
