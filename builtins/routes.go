package builtins

// Routes family: routes_check.
//
//	routes_check(text, name=None) -> number of routes, parsed by the egress
//	    sidecar's own parser (egress/routes); its error names line and
//	    field, and with name (a file name) the file too ("routes.yaml:3: ...")

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/egress/routes"
)

func routesBuiltins() []Builtin {
	return []Builtin{
		def("routes_check", "routes_check(text, name=None)",
			"validate routes.yaml text with the egress sidecar's parser; returns the route count; errors name the line (as name:line when name, a file name, is given)", pure, routesCheck),
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
