package builtins

// Container family: signals, restarts, exec, files and logs of running
// containers, and the listing and removal cleanup needs. A container argument
// is a name or an id. The builtins and what they return: `bottle builtins`,
// from the entries below.

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/engine"
)

func containerBuiltins() []Builtin {
	return []Builtin{
		def("sighup", "sighup(container) -> time", "send SIGHUP to the container's PID 1; returns the time just before it was sent (RFC 3339)", effect, sighup),
		def("signal", "signal(container, sig) -> time", "send a signal (\"TERM\", \"SIGUSR1\", ...) to the container's PID 1; returns the time just before it was sent", effect, signal),
		def("restart", "restart(container, timeout=10) -> time", "restart a container; returns the time just before it began, for wait_log's since", effect, restart),
		def("exec", "exec(container, cmd, check=True) -> struct(code, stdout, stderr)",
			"run a command (a list, or a string run by sh -c) in a container; check fails on a non-zero exit", effect, execIn),
		def("copy_from", "copy_from(container, path) -> text", "the content of a file inside a container (no shell needed)", step, copyFrom),
		def("inspect", "inspect(container) -> struct(id, name, image, running, status, started_at, created, mounts, networks, labels)",
			"a container's state; mounts are struct(type, source, destination, rw), networks the names it is attached to", step, inspect),
		def("wait_log", "wait_log(container, pattern, since=None, timeout=30, default=None) -> text",
			"the first log line at or after since (default: the call) matching the regexp; with default, that instead of failing when none matched within timeout", step, waitLog),
		def("containers", "containers(labels={}) -> list of inspect structs",
			"the containers (running or not) carrying all the labels (\"\" value: any value)", step, containers),
		def("container_remove", "container_remove(container) -> bool", "force-remove a container: True if removed, False if absent", effect, containerRemove),
	}
}

func timeValue(t time.Time) starlark.Value { return starlark.String(t.UTC().Format(time.RFC3339Nano)) }

func containerValue(c engine.Container) starlark.Value {
	mounts := make([]starlark.Value, len(c.Mounts))
	for i, m := range c.Mounts {
		mounts[i] = mkstruct("type", m.Type, "source", m.Source, "destination", m.Destination, "rw", m.RW)
	}
	return mkstruct("id", c.ID, "name", c.Name, "image", c.Image, "running", c.Running, "status", c.Status,
		"started_at", c.StartedAt, "created", c.Created, "mounts", starlark.NewList(mounts),
		"networks", c.Networks, "labels", c.Labels)
}

func sighup(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var c string
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c); err != nil {
		return nil, err
	}
	t, err := env.Engine.Signal(env.Ctx, c, "HUP")
	if err != nil {
		return nil, err
	}
	return timeValue(t), nil
}

func signal(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var c, sig string
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c, "sig", &sig); err != nil {
		return nil, err
	}
	if sig == "" {
		return nil, fmt.Errorf("%s: empty signal name; use e.g. \"TERM\" or \"SIGHUP\"", name)
	}
	t, err := env.Engine.Signal(env.Ctx, c, strings.ToUpper(sig))
	if err != nil {
		return nil, err
	}
	return timeValue(t), nil
}

func restart(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var c string
	timeout := seconds(10 * time.Second)
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c, "timeout?", &timeout); err != nil {
		return nil, err
	}
	t, err := env.Engine.Restart(env.Ctx, c, time.Duration(timeout))
	if err != nil {
		return nil, err
	}
	return timeValue(t), nil
}

func execIn(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		c     string
		cmd   cmdArg
		check = true
	)
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c, "cmd", &cmd, "check?", &check); err != nil {
		return nil, err
	}
	r, err := env.Engine.Exec(env.Ctx, c, cmd)
	if err != nil {
		return nil, err
	}
	if check && r.Code != 0 {
		msg := strings.TrimSpace(r.Stderr)
		if msg == "" {
			msg = "(no stderr)"
		}
		return nil, fmt.Errorf("%s: %s %q exited with code %d: %s (pass check=False to handle it yourself)", name, c, strings.Join(cmd, " "), r.Code, msg)
	}
	return mkstruct("code", r.Code, "stdout", r.Stdout, "stderr", r.Stderr), nil
}

func copyFrom(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var c, path string
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c, "path", &path); err != nil {
		return nil, err
	}
	data, err := env.Engine.CopyFrom(env.Ctx, c, path)
	if err != nil {
		return nil, err
	}
	return starlark.String(data), nil
}

func inspect(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var c string
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c); err != nil {
		return nil, err
	}
	ct, err := env.Engine.Inspect(env.Ctx, c)
	if err != nil {
		return nil, err
	}
	return containerValue(ct), nil
}

func waitLog(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		c, pattern string
		since      optString
		timeout    = seconds(30 * time.Second)
		fallback   optString
	)
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c, "pattern", &pattern,
		"since?", &since, "timeout?", &timeout, "default?", &fallback); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: bad pattern %q: %v", name, pattern, err)
	}
	var from time.Time
	if since.set {
		from, err = time.Parse(time.RFC3339Nano, since.s)
		if err != nil {
			return nil, fmt.Errorf("%s: since %q is not an RFC 3339 time (pass what sighup() or restart() returned)", name, since.s)
		}
	} else if env.Now != nil {
		from = env.Now()
	} else {
		from = time.Now()
	}
	line, err := env.Engine.WaitLog(env.Ctx, c, re, from, time.Duration(timeout))
	if err != nil && fallback.set && errors.Is(err, engine.ErrNoLine) {
		return starlark.String(fallback.s), nil
	}
	if err != nil {
		return nil, err
	}
	return starlark.String(line), nil
}

func containers(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var labels labelsArg
	if err := starlark.UnpackArgs(name, args, kwargs, "labels?", &labels); err != nil {
		return nil, err
	}
	list, err := env.Engine.Containers(env.Ctx, labels)
	if err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(list))
	for i, c := range list {
		out[i] = containerValue(c)
	}
	return starlark.NewList(out), nil
}

func containerRemove(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var c string
	if err := starlark.UnpackArgs(name, args, kwargs, "container", &c); err != nil {
		return nil, err
	}
	ok, err := env.Engine.ContainerRemove(env.Ctx, c)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(ok), nil
}
