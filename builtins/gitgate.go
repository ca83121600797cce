package builtins

// Git gate family: git_policy_check, the git gate's own policy parser
// (gitgate/policy) offered to recipes, so that a bad git-gate.yaml fails
// the run before anything changes. The builtin and what it returns:
// `bottle builtins`, from the entry below.

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/gitgate/policy"
)

func gitGateBuiltins() []Builtin {
	return []Builtin{
		def("git_policy_check", "git_policy_check(text, name=None) -> int",
			"the number of remotes in a git gate policy text (git-gate.yaml), parsed by the gate's own parser; errors name the line and field (as name:line when name is given)", pure, gitPolicyCheck),
	}
}

func gitPolicyCheck(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	var file starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "text", &text, "name?", &file); err != nil {
		return nil, err
	}
	fname, err := fileName(name, file)
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, withFile(err, fname))
	}
	return starlark.MakeInt(len(p.Remotes)), nil
}
