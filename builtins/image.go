package builtins

// Image family: image_build, bottle_image, agent_image.
//
//	image_build(tag, context, dockerfile="Dockerfile") -> image id
//	bottle_image(tag="bottle:local") -> pinned tag (tag-<digest>) of a FROM-scratch image holding this bottle binary
//	agent_image(tag="bottle-agent:local") -> pinned tag of the default agent (the host's busybox and bottle), or None without a static busybox
//
// Images are not undone: they are cache, not state.

import (
	"errors"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/engine"
)

func imageBuiltins() []Builtin {
	return []Builtin{
		def("image_build", `image_build(tag, context, dockerfile="Dockerfile")`,
			"build an image from a directory; returns its id", effect, imageBuild),
		def("bottle_image", `bottle_image(tag="bottle:local")`,
			"make (or reuse) a FROM-scratch image holding this bottle binary, entrypoint /bottle; returns its tag pinned to the binary's digest", effect, bottleImage),
		def("agent_image", `agent_image(tag="bottle-agent:local")`,
			"make (or reuse) the default agent's image from the host's static busybox and this bottle binary; returns its pinned tag, or None when the host has no static busybox", effect, agentImage),
	}
}

func imageBuild(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var tag, dir string
	dockerfile := "Dockerfile"
	if err := starlark.UnpackArgs(name, args, kwargs, "tag", &tag, "context", &dir, "dockerfile?", &dockerfile); err != nil {
		return nil, err
	}
	id, err := env.Engine.ImageBuild(env.Ctx, tag, resolve(env, dir), dockerfile)
	if err != nil {
		return nil, err
	}
	return starlark.String(id), nil
}

func bottleImage(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tag := "bottle:local"
	if err := starlark.UnpackArgs(name, args, kwargs, "tag?", &tag); err != nil {
		return nil, err
	}
	got, err := env.Engine.BottleImage(env.Ctx, tag)
	if err != nil {
		return nil, err
	}
	return starlark.String(got), nil
}

func agentImage(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tag := "bottle-agent:local"
	if err := starlark.UnpackArgs(name, args, kwargs, "tag?", &tag); err != nil {
		return nil, err
	}
	got, err := env.Engine.AgentImage(env.Ctx, tag)
	if errors.Is(err, engine.ErrNoTools) {
		return starlark.None, nil
	}
	if err != nil {
		return nil, err
	}
	return starlark.String(got), nil
}
