package builtins

// Routes family: routes_check, the egress sidecar's own routes parser
// (egress/routes) offered to recipes, so that a bad routes.yaml fails
// the run before anything changes. The builtin and what it returns:
// `bottle builtins`, from the entry below.

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/egress/routes"
)

func routesBuiltins() []Builtin {
	return []Builtin{
		def("routes_check", "routes_check(text, name=None) -> int",
			"the number of routes in a routes.yaml text, parsed by the egress sidecar's parser; errors name the line and field (as name:line when name is given)", pure, routesCheck),
	}
}

func routesCheck(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	var file starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "text", &text, "name?", &file); err != nil {
		return nil, err
	}
	fname, err := fileName(name, file)
	if err != nil {
		return nil, err
	}
	r, err := routes.Parse([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, withFile(err, fname))
	}
	return starlark.MakeInt(len(r.Routes)), nil
}
