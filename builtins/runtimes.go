package builtins

// Runtimes family: the daemon's OCI runtimes. start.star asks it to pick the
// agent's runtime: runsc (gVisor) when the daemon offers it, and to refuse a
// manifest that names a runtime the daemon lacks before anything is made. The builtin and what it returns:
// `bottle builtins`, from the entry below.

import (
	"go.starlark.net/starlark"
)

func runtimesBuiltins() []Builtin {
	return []Builtin{
		def("runtimes", "runtimes() -> struct(names, default)",
			"the daemon's OCI runtimes: names sorted, default the one a container gets unless it names another", step, runtimes),
	}
}

func runtimes(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(name, args, kwargs); err != nil {
		return nil, err
	}
	r, err := env.Engine.Runtimes(env.Ctx)
	if err != nil {
		return nil, err
	}
	names := make([]starlark.Value, len(r.Names))
	for i, n := range r.Names {
		names[i] = starlark.String(n)
	}
	return mkstruct("names", starlark.NewList(names), "default", r.Default), nil
}
