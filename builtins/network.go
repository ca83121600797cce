package builtins

// Network family: network_create, network_remove, networks.
//
//	network_create(name, internal=False, subnet=None, labels=None) -> struct(name, id, subnet, gateway, internal, labels)
//	network_remove(name) -> True if removed, False if absent
//	networks(labels={}) -> list of network structs carrying all the labels
//
// network_create labels the network dev.bottle.instance=<name> unless the
// caller gave that label, and records network_remove as its undo.

import (
	"context"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/engine"
)

func networkBuiltins() []Builtin {
	return []Builtin{
		def("network_create", "network_create(name, internal=False, subnet=None, labels=None)",
			"create a network: struct(name, id, subnet, gateway, internal); undo removes it", effect, networkCreate),
		def("network_remove", "network_remove(name)",
			"remove a network: True if removed, False if absent", effect, networkRemove),
		def("networks", "networks(labels={})",
			"networks carrying all the labels (\"\" value: any value), as structs", step, networks),
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
	n, err := env.Engine.NetworkCreate(env.Ctx, spec)
	if err != nil {
		return nil, err
	}
	netName := spec.Name
	recordUndo(env, "remove network "+netName, func(ctx context.Context) error {
		_, err := env.Engine.NetworkRemove(ctx, netName)
		return err
	})
	return networkValue(n), nil
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
