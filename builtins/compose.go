package builtins

// Compose family: bringing a bottle's compose project up and down. compose_up
// encodes the spec with no top-level name: or version: key (compose v1 and v2
// both accept it), labels every service dev.bottle.instance=<project> unless
// the spec labels it already, and hands it to the engine to write. The
// builtins and what they return: `bottle builtins`, from the entries below.

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/engine"
)

func composeBuiltins() []Builtin {
	return []Builtin{
		def("compose_up", "compose_up(project, spec, dir) -> struct(project, file, containers, started)",
			"write spec (a dict) as the project's compose file in dir (0600) and bring it up; containers maps service to container name, started is the time just before up ran (for wait_log's since); undo takes it down", effect, composeUp),
		def("compose_down", "compose_down(project, dir, logs=None) -> None",
			"take a compose project down as `down --remove-orphans` does, through the API; first appends its containers' logs to the logs path", effect, composeDown),
	}
}

func composeUp(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		project, d string
		spec       *starlark.Dict
	)
	if err := starlark.UnpackArgs(name, args, kwargs, "project", &project, "spec", &spec, "dir", &d); err != nil {
		return nil, err
	}
	if project == "" {
		return nil, fmt.Errorf("%s: empty project name", name)
	}
	labeled, err := labelServices(spec, project)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, project, err)
	}
	text, err := encodeYAML(labeled)
	if err != nil {
		return nil, fmt.Errorf("%s %s: spec: %w", name, project, err)
	}
	dir := resolve(env, d)
	p := engine.ComposeProject{Project: project, Dir: dir, File: filepath.Join(dir, engine.ComposeFile), YAML: []byte(text)}
	// The undo is in the journal before the call: compose may have started
	// some services before failing or being interrupted, and the daemon
	// may finish a create after compose gave up; the undo finds them by the
	// project label.
	var call callWatch
	eng := env.Engine // the undo goes here, whatever use_engine() does next
	recordUndo(env, "compose down "+project, func(ctx context.Context) error {
		if !call.gaveUp() {
			return eng.ComposeDown(ctx, project, dir, "")
		}
		return removeLabelled(ctx, eng, map[string]string{engine.ComposeProjectLabel: project}, call.gaveUp(),
			func(ctx context.Context, e engine.Engine, sel map[string]string) (int, error) {
				ctrs, err := e.Containers(ctx, sel)
				if err != nil {
					return 0, err
				}
				nets, err := e.Networks(ctx, sel)
				if err != nil || len(ctrs)+len(nets) == 0 {
					return 0, err
				}
				return len(ctrs) + len(nets), e.ComposeDown(ctx, project, dir, "")
			})
	})
	res, err := eng.ComposeUp(env.Ctx, p)
	call.done(env.Ctx, err)
	if err != nil {
		return nil, err
	}
	file := res.File
	if file == "" {
		file = p.File
	}
	return mkstruct("project", project, "file", file, "containers", res.Containers, "started", res.Started), nil
}

// labelServices returns a copy of spec whose services all carry the instance
// label. It refuses top-level name: and version:, which one compose version
// or the other rejects.
func labelServices(spec *starlark.Dict, project string) (*starlark.Dict, error) {
	out := starlark.NewDict(spec.Len())
	for _, kv := range spec.Items() {
		k, ok := kv[0].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("spec key %s is a %s, want string", kv[0], kv[0].Type())
		}
		switch k {
		case "name", "version":
			return nil, fmt.Errorf("spec has a top-level %q key; remove it: bottle passes the project with -p and writes a file both compose v1 and v2 accept", string(k))
		case "services":
			services, ok := kv[1].(*starlark.Dict)
			if !ok {
				return nil, fmt.Errorf("spec services is a %s, want dict of service name -> dict", kv[1].Type())
			}
			labeled := starlark.NewDict(services.Len())
			for _, s := range services.Items() {
				svc, ok := s[1].(*starlark.Dict)
				if !ok {
					return nil, fmt.Errorf("service %s is a %s, want dict", s[0], s[1].Type())
				}
				withLabel, err := labelService(svc, project)
				if err != nil {
					return nil, fmt.Errorf("service %s: %w", s[0], err)
				}
				labeled.SetKey(s[0], withLabel)
			}
			out.SetKey(k, labeled)
		default:
			out.SetKey(k, kv[1])
		}
	}
	return out, nil
}

func labelService(svc *starlark.Dict, project string) (*starlark.Dict, error) {
	out := starlark.NewDict(svc.Len() + 1)
	for _, kv := range svc.Items() {
		out.SetKey(kv[0], kv[1])
	}
	labels, found, _ := svc.Get(starlark.String("labels"))
	if !found {
		d := starlark.NewDict(1)
		d.SetKey(starlark.String(engine.InstanceLabel), starlark.String(project))
		out.SetKey(starlark.String("labels"), d)
		return out, nil
	}
	switch l := labels.(type) {
	case *starlark.Dict:
		if _, has, _ := l.Get(starlark.String(engine.InstanceLabel)); has {
			return out, nil
		}
		d := starlark.NewDict(l.Len() + 1)
		for _, kv := range l.Items() {
			d.SetKey(kv[0], kv[1])
		}
		d.SetKey(starlark.String(engine.InstanceLabel), starlark.String(project))
		out.SetKey(starlark.String("labels"), d)
		return out, nil
	case *starlark.List:
		items := make([]starlark.Value, 0, l.Len()+1)
		has := false
		for i := 0; i < l.Len(); i++ {
			s, _ := starlark.AsString(l.Index(i))
			if s == engine.InstanceLabel || strings.HasPrefix(s, engine.InstanceLabel+"=") {
				has = true
			}
			items = append(items, l.Index(i))
		}
		if !has {
			items = append(items, starlark.String(engine.InstanceLabel+"="+project))
		}
		out.SetKey(starlark.String("labels"), starlark.NewList(items))
		return out, nil
	}
	return nil, fmt.Errorf("labels is a %s, want dict or list of \"key=value\"", labels.Type())
}

func composeDown(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		project, d string
		logs       optString
	)
	if err := starlark.UnpackArgs(name, args, kwargs, "project", &project, "dir", &d, "logs?", &logs); err != nil {
		return nil, err
	}
	logPath := ""
	if logs.set {
		logPath = resolve(env, logs.s)
	}
	if err := env.Engine.ComposeDown(env.Ctx, project, resolve(env, d), logPath); err != nil {
		return nil, err
	}
	return starlark.None, nil
}
