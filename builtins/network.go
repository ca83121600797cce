package builtins

// Network family: creating, listing and removing networks. network_create
// labels the network dev.bottle.instance=<name> unless the caller gave that
// label, and dev.bottle.create=<a token of this call>, and records the
// removal of whatever carries that token as its undo, before the call.
// network_remove removes by id. The builtins and what they return:
// `bottle builtins`, from the entries below.

import (
	"context"
	"errors"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/engine"
)

func networkBuiltins() []Builtin {
	return []Builtin{
		def("network_create", "network_create(name, internal=False, subnet=None, labels=None) -> struct(name, id, subnet, gateway, internal, labels)",
			"create a network; a name already in use is an error naming its id; undo removes it, by id", effect, networkCreate),
		def("network_remove", "network_remove(name) -> bool",
			"remove a network by name or id: True if removed, False if absent; a name several networks carry is an error naming their ids", effect, networkRemove),
		def("networks", "networks(labels={}) -> list of struct(name, id, subnet, gateway, internal, labels, containers)",
			"the networks carrying all the labels (\"\" value: any value); containers are the names of those attached", step, networks),
	}
}

func networkValue(n engine.Network, more ...any) starlark.Value {
	return mkstruct(append([]any{"name", n.Name, "id", n.ID, "subnet", n.Subnet, "gateway", n.Gateway,
		"internal", n.Internal, "labels", n.Labels}, more...)...)
}

// listedNetworkValue is networkValue plus the containers attached, which
// networks() reports and network_create has none of.
func listedNetworkValue(n engine.Network) starlark.Value {
	containers := make([]starlark.Value, len(n.Containers))
	for i, c := range n.Containers {
		containers[i] = starlark.String(c)
	}
	return networkValue(n, "containers", starlark.NewList(containers))
}

func networkCreate(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		spec   engine.NetworkSpec
		subnet optString
		labels labelsArg
	)
	if err := starlark.UnpackArgs(name, args, kwargs, "name", &spec.Name, "internal?", &spec.Internal,
		"subnet?", &subnet, "labels?", &labels); err != nil {
		return nil, err
	}
	spec.Subnet = subnet.s
	spec.Labels = map[string]string{}
	for k, v := range labels {
		spec.Labels[k] = v
	}
	if _, ok := spec.Labels[engine.InstanceLabel]; !ok {
		spec.Labels[engine.InstanceLabel] = spec.Name
	}
	// The undo is in the journal before the call, and finds the network by
	// a label of this call's own: when the run is interrupted, the daemon
	// may finish the create after the client gave up, with no id returned.
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	if !env.DryRun { // the recorder always answers; its lines stay free of tokens
		spec.Labels[CreateLabel] = token
	}
	var call callWatch
	var id string     // set once the daemon answered with the network
	eng := env.Engine // the undo goes here, whatever use_engine() does next
	recordUndo(env, "remove network "+spec.Name, func(ctx context.Context) error {
		if id != "" {
			_, err := eng.NetworkRemove(ctx, id)
			return err
		}
		return removeLabelled(ctx, eng, map[string]string{CreateLabel: token}, call.gaveUp(), networksAndRemove)
	})
	n, err := eng.NetworkCreate(env.Ctx, spec)
	call.done(env.Ctx, err)
	if err != nil {
		return nil, err
	}
	id = n.ID
	delete(n.Labels, CreateLabel) // the call's own, not the caller's
	return networkValue(n), nil
}

// networksAndRemove removes the networks carrying labels, by id; it
// returns how many it found.
func networksAndRemove(ctx context.Context, e engine.Engine, labels map[string]string) (int, error) {
	list, err := e.Networks(ctx, labels)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, n := range list {
		if _, err := e.NetworkRemove(ctx, n.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return len(list), errors.Join(errs...)
}

func networkRemove(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var net string
	if err := starlark.UnpackArgs(name, args, kwargs, "name", &net); err != nil {
		return nil, err
	}
	ok, err := env.Engine.NetworkRemove(env.Ctx, net)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(ok), nil
}

func networks(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var labels labelsArg
	if err := starlark.UnpackArgs(name, args, kwargs, "labels?", &labels); err != nil {
		return nil, err
	}
	list, err := env.Engine.Networks(env.Ctx, labels)
	if err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(list))
	for i, n := range list {
		out[i] = listedNetworkValue(n)
	}
	return starlark.NewList(out), nil
}
