// Package builtins holds the Starlark-facing functions of bottle recipes, one
// file per family. A builtin unpacks its arguments, calls the engine or the
// filesystem through the run's Env, records its undo in the journal and
// converts the result. The registry below is the single list the interpreter
// predeclares and `bottle builtins` prints, so the two cannot drift.
//
// Families (see docs/DESIGN.md for the contract):
//
//	network.go    network_create, network_remove, networks
//	compose.go    compose_up, compose_down
//	container.go  sighup, signal, restart, exec, copy_from, inspect, wait_log,
//	              containers, container_remove
//	image.go      image_build, bottle_image
//	files.go      write_inplace, write_atomic, read, exists, mkdir, chmod, remove, state_dir
//	tls.go        ca_create
//	codecs.go     yaml, json modules
//	allowlist.go  allowlist module
//	routes.go     routes_check
//	audit.go      audit, diff
//	misc.go       edit, getenv, struct, time, math, log, fail, on_failure
package builtins

import (
	"go.starlark.net/starlark"
)

// Builtin is one entry of the registry.
type Builtin struct {
	Name   string
	Sig    string // e.g. "network_create(name, internal=False, subnet=None, labels=None)"
	Doc    string // one line
	Effect bool   // creates or changes something: refused while a module loads
	Value  starlark.Value
}
