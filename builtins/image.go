package builtins

// Image family: building images, the image of this bottle binary the
// egress sidecar runs, and the default agent's. Images are not undone: they are cache, not state.
// The builtins and what they return: `bottle builtins`, from the entries
// below.

import (
	"errors"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/engine"
)

func imageBuiltins() []Builtin {
	return []Builtin{
		def("image_build", `image_build(tag, context, dockerfile="Dockerfile") -> image id`,
			"build an image from a directory", effect, imageBuild),
		def("bottle_image", `bottle_image(tag="bottle:local") -> tag`,
			"make (or reuse) a FROM-scratch image holding this bottle binary, entrypoint /bottle; returns tag pinned to the binary's digest (tag-<12 hex digits>)", effect, bottleImage),
		def("agent_image", `agent_image(tag="bottle-agent:local") -> tag or None`,
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
