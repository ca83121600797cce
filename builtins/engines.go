package builtins

// Engines family: which Docker engine the run's engine steps go to.
// `bottle run --engine NAME` picks the first (else the default one, as the
// docker CLI picks it); use_engine() moves the steps after it to another,
// so a recipe follows a bottle to the engine its metadata.json records, or
// visits every engine in turn (cleanup). The undo of a step goes to the
// engine that made it, whatever use_engine() did since. The builtins and
// what they return: `bottle builtins`, from the entries below.

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/bottle-sh/bottle/engine"
)

func enginesBuiltins() []Builtin {
	return []Builtin{
		def("engine", "engine() -> struct(name, host, tls, tls_verify, cert_path, given)",
			"the engine the run's engine steps go to: its Docker context (\"\" when named by address), its address and TLS settings; given is True when `bottle run --engine` named it", pure, currentEngine),
		def("use_engine", "use_engine(engine) -> struct(name, host, tls, tls_verify, cert_path, given)",
			"send the engine steps after it to another engine: a Docker context's name, an address (unix://, tcp://, ssh://), or what engine() returned (metadata.json's engine); undo still goes to the engine that made each thing", step, useEngine),
	}
}

func endpointValue(at engine.Endpoint, given bool) starlark.Value {
	return mkstruct("name", at.Name, "host", at.Host, "tls", at.TLS, "tls_verify", at.TLSVerify,
		"cert_path", at.CertPath, "given", given)
}

func currentEngine(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(name, args, kwargs); err != nil {
		return nil, err
	}
	return endpointValue(env.Endpoint, env.givenHere()), nil
}

func useEngine(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ref starlark.Value
	if err := starlark.UnpackArgs(name, args, kwargs, "engine", &ref); err != nil {
		return nil, err
	}
	if env.Engines == nil {
		return nil, fmt.Errorf("this run has no engines to choose from")
	}
	at, err := endpointArg(env, ref)
	if err != nil {
		return nil, err
	}
	if at.Host != env.Endpoint.Host {
		if env.opened == nil {
			env.opened = map[string]engine.Engine{}
		}
		env.opened[env.Endpoint.Host] = env.Engine
		eng, ok := env.opened[at.Host]
		if !ok {
			if eng, err = env.Engines.Open(env.Ctx, at); err != nil {
				return nil, err
			}
			env.opened[at.Host] = eng
		}
		env.Engine = eng
	}
	env.Endpoint = at
	return endpointValue(env.Endpoint, env.givenHere()), nil
}

// endpointArg reads use_engine's argument: a name or address to resolve,
// or the fields engine() returns (as a struct, or the dict metadata.json
// holds).
func endpointArg(env *Env, ref starlark.Value) (engine.Endpoint, error) {
	var get func(string) (starlark.Value, bool)
	switch v := ref.(type) {
	case starlark.String:
		return env.Engines.Resolve(string(v))
	case *starlark.Dict:
		get = func(k string) (starlark.Value, bool) {
			x, found, _ := v.Get(starlark.String(k))
			return x, found
		}
	case *starlarkstruct.Struct:
		get = func(k string) (starlark.Value, bool) {
			x, err := v.Attr(k)
			return x, err == nil
		}
	default:
		return engine.Endpoint{}, fmt.Errorf("want a context name, an address or what engine() returns, got %s", ref.Type())
	}
	var at engine.Endpoint
	for _, f := range []struct {
		key string
		str *string
		b   *bool
	}{{"name", &at.Name, nil}, {"host", &at.Host, nil}, {"cert_path", &at.CertPath, nil},
		{"tls", nil, &at.TLS}, {"tls_verify", nil, &at.TLSVerify}} {
		x, ok := get(f.key)
		if !ok || x == starlark.None {
			continue
		}
		var good bool
		if f.str != nil {
			var s starlark.String
			s, good = x.(starlark.String)
			*f.str = string(s)
		} else {
			var b starlark.Bool
			b, good = x.(starlark.Bool)
			*f.b = bool(b)
		}
		if !good {
			return engine.Endpoint{}, fmt.Errorf("engine's %s: got %s", f.key, x.Type())
		}
	}
	if at.Host == "" && at.Name == "" {
		return engine.Endpoint{}, fmt.Errorf("an engine needs a host or a name (a Docker context)")
	}
	if at.Name != "" {
		// A context is looked up again: its address may have moved.
		now, err := env.Engines.Resolve(at.Name)
		if err != nil {
			return engine.Endpoint{}, fmt.Errorf("%w (recorded as %s)", err, at)
		}
		return now, nil
	}
	return at, nil
}
