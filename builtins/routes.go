package builtins

// Routes family: routes_check.
//
//	routes_check(text) -> number of routes, parsed by the egress sidecar's own
//	    parser (egress.ParseRoutes); its error names line and field

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/egress"
)

func routesBuiltins() []Builtin {
	return []Builtin{
		def("routes_check", "routes_check(text)",
			"validate routes.yaml text with the egress sidecar's parser; returns the route count", pure, routesCheck),
	}
}

func routesCheck(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	if err := starlark.UnpackArgs(name, args, kwargs, "text", &text); err != nil {
		return nil, err
	}
	r, err := egress.ParseRoutes([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return starlark.MakeInt(len(r.Routes)), nil
}
