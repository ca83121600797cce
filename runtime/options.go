package runtime

import "go.starlark.net/syntax"

// FileOptions returns the dialect options of every recipe and loaded file
// (a fresh copy each call). They are explicit so that a go.starlark.net
// upgrade, or a global flag in some linked package, cannot change what a
// recipe means.
func FileOptions() *syntax.FileOptions {
	return &syntax.FileOptions{
		// set() is handy for deduplicating hosts, names and ports.
		Set: true,
		// while loops are allowed for polling; the step limit stops runaway ones.
		While: true,
		// A recipe is a script: `if args.get("x"):` and `for` at top level are its
		// natural shape.
		TopLevelControl: true,
		// Scripts build values up step by step (spec = ..., spec["x"] = ...; name =
		// name + "-int"); forbidding it only adds noise names.
		GlobalReassign: true,
		// Off: load() binds names in the loading file only, as Starlark intends.
		LoadBindsGlobally: false,
		// Off: unbounded recursion would exhaust the Go stack (a crash, with no
		// rollback) long before the step limit notices; recipes walk trees with loops.
		Recursion: false,
	}
}
