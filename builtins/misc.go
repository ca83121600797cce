package builtins

// Misc family: the editor, the environment, logging, failure and undo
// hooks, hints, and go.starlark.net's struct, time and math. The builtins
// and what they return: `bottle builtins`, from the entries below.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"

	starmath "go.starlark.net/lib/math"
	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/bottle-sh/bottle/internal/agentseccomp"
	"github.com/bottle-sh/bottle/internal/editdist"
)

func miscBuiltins() []Builtin {
	out := []Builtin{
		def("edit", `edit(text, suffix=".yaml") -> text`, "open text in $VISUAL/$EDITOR on the terminal; returns the edited text; fails without a terminal", effect, edit),
		def("agent_seccomp", "agent_seccomp() -> text",
			"the agent's seccomp profile (JSON): Docker's default that refuses setuid/setgid file modes with EPERM", pure, agentSeccomp),
		def("getenv", "getenv(name, default=None) -> text", "an environment variable, or default when unset", pure, getenv),
		def("log", "log(*values) -> None", "print values, space-separated, to the run's output", pure, logValues),
		def("on_failure", "on_failure(fn) -> None", "call fn() if the run fails, in reverse order with the other undo steps", effect, onFailure),
		def("closest", "closest(word, choices) -> text or None",
			"the choice nearest to word when word is a likely typo of it, for \"did you mean\" hints (bottle's one rule)", pure, closest),
		{Name: "struct", Sig: "struct(**fields)", Returns: "struct", Doc: "an immutable struct with the given fields", Value: starlark.NewBuiltin("struct", starlarkstruct.Make)},
		{Name: "fail", Sig: "fail(*args, sep=\" \")", Doc: "fail the run with a message; everything it made is undone", Value: starlark.Universe["fail"]},
	}
	out = append(out, libModule(startime.Module, "times and durations (go.starlark.net/lib/time)", map[string][2]string{
		"now":               {"time.now()", "the current time"},
		"parse_time":        {`time.parse_time(x, format=RFC3339, location="UTC")`, "parse a time"},
		"parse_duration":    {"time.parse_duration(d)", `parse a duration such as "1h30m"`},
		"from_timestamp":    {"time.from_timestamp(sec, nsec=0)", "a time from Unix seconds"},
		"time":              {"time.time(year=0, month=1, day=1, hour=0, minute=0, second=0, nanosecond=0, location=\"\")", "a time from its parts"},
		"is_valid_timezone": {"time.is_valid_timezone(loc)", "whether loc names a time zone"},
	})...)
	out = append(out, libModule(starmath.Module, "floating-point math (go.starlark.net/lib/math)", mathSigs())...)
	return out
}

// mathSigs documents lib/math's members.
func mathSigs() map[string][2]string {
	one := map[string]string{
		"ceil": "smallest integer >= x", "floor": "largest integer <= x", "fabs": "absolute value",
		"round": "x rounded to the nearest integer, halves away from zero", "exp": "e**x", "sqrt": "square root",
		"acos": "arc cosine (radians)", "asin": "arc sine (radians)", "atan": "arc tangent (radians)",
		"cos": "cosine", "sin": "sine", "tan": "tangent", "degrees": "radians to degrees",
		"radians": "degrees to radians", "acosh": "inverse hyperbolic cosine", "asinh": "inverse hyperbolic sine",
		"atanh": "inverse hyperbolic tangent", "cosh": "hyperbolic cosine", "sinh": "hyperbolic sine",
		"tanh": "hyperbolic tangent", "gamma": "the Gamma function",
	}
	sigs := map[string][2]string{
		"copysign":  {"math.copysign(x, y)", "x with the sign of y"},
		"mod":       {"math.mod(x, y)", "floating-point remainder of x/y, with the sign of x"},
		"pow":       {"math.pow(x, y)", "x**y"},
		"remainder": {"math.remainder(x, y)", "IEEE 754 remainder of x/y"},
		"atan2":     {"math.atan2(y, x)", "arc tangent of y/x, using the signs of both (radians)"},
		"hypot":     {"math.hypot(x, y)", "sqrt(x*x + y*y)"},
		"log":       {"math.log(x, base=e)", "logarithm of x in base"},
		"e":         {"math.e", "the constant e"},
		"pi":        {"math.pi", "the constant pi"},
	}
	for n, d := range one {
		sigs[n] = [2]string{"math." + n + "(x)", d}
	}
	return sigs
}

// libModule lists a go.starlark.net module and its members; sigs gives each
// member's signature and doc, with a generic line for the ones it omits.
func libModule(m *starlarkstruct.Module, doc string, sigs map[string][2]string) []Builtin {
	names := slices.Sorted(maps.Keys(m.Members))
	out := []Builtin{{Name: m.Name, Sig: m.Name, Doc: doc + " (" + strings.Join(names, ", ") + ")", Value: m}}
	for _, n := range names {
		v := m.Members[n]
		full := m.Name + "." + n
		sig, d := full, fmt.Sprintf("constant %s", v.String())
		if _, ok := v.(starlark.Callable); ok {
			sig, d = full+"(...)", fmt.Sprintf("see go.starlark.net/lib/%s", m.Name)
		}
		if s, ok := sigs[n]; ok {
			sig, d = s[0], s[1]
		}
		out = append(out, Builtin{Name: full, Sig: sig, Doc: d, Upstream: true, Value: v})
	}
	return out
}

func getenv(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var dflt starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "name", &key, "default?", &dflt); err != nil {
		return nil, err
	}
	lookup := env.Getenv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if v, ok := lookup(key); ok {
		return starlark.String(v), nil
	}
	return dflt, nil
}

func logValues(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: unexpected keyword argument %s", name, kwargs[0][0])
	}
	parts := make([]string, len(args))
	for i, v := range args {
		if s, ok := v.(starlark.String); ok {
			parts[i] = string(s)
		} else {
			parts[i] = v.String()
		}
	}
	msg := strings.Join(parts, " ")
	if env.Progress != nil {
		env.Progress.Log(msg)
	} else if env.Stdout != nil {
		fmt.Fprintln(env.Stdout, msg)
	}
	return starlark.None, nil
}

func onFailure(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	if err := starlark.UnpackArgs(name, args, kwargs, "fn", &fn); err != nil {
		return nil, err
	}
	// fn runs with the engine that was the run's when on_failure was called.
	eng, at := env.Engine, env.Endpoint
	recordUndo(env, "on_failure "+fn.Name(), func(ctx context.Context) error {
		undoEnv := *env
		undoEnv.Ctx = ctx
		undoEnv.Engine, undoEnv.Endpoint = eng, at
		thread := &starlark.Thread{Name: "on_failure " + fn.Name()}
		thread.Print = func(_ *starlark.Thread, msg string) {
			logValues(thread, &undoEnv, "print", starlark.Tuple{starlark.String(msg)}, nil)
		}
		SetEnv(thread, &undoEnv)
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-ctx.Done():
				thread.Cancel(ctx.Err().Error())
			case <-done:
			}
		}()
		_, err := starlark.Call(thread, fn, nil, nil)
		return undoError(err)
	})
	return starlark.None, nil
}

// undoError turns an on_failure step's Starlark error into one line, like
// the other undo failures: the message, then the recipe file:line:col where
// it happened ("cannot clean up (fail.star:4:9)"). The journal prefixes it with
// "undo on_failure <fn>: ".
func undoError(err error) error {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		return err
	}
	msg, stack := ee.Msg, ee.CallStack
	if n := len(stack); n > 0 && stack[n-1].Pos.Filename() == "<builtin>" {
		msg = strings.TrimPrefix(msg, stack[n-1].Name+": ")
		stack = stack[:n-1]
	}
	msg, _, _ = strings.Cut(msg, "\n")
	if n := len(stack); n > 0 {
		return fmt.Errorf("%s (%s)", msg, stack[n-1].Pos)
	}
	return errors.New(msg)
}

func edit(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	suffix := ".yaml"
	if err := starlark.UnpackArgs(name, args, kwargs, "text", &text, "suffix?", &suffix); err != nil {
		return nil, err
	}
	if env.IsTTY == nil || !env.IsTTY() {
		return nil, fmt.Errorf("%s: needs an interactive terminal, and stdin is not one; run bottle from a terminal, or change the file and apply it without edit()", name)
	}
	lookup := env.Getenv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	editor := ""
	for _, k := range []string{"VISUAL", "EDITOR"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			editor = v
			break
		}
	}
	if editor == "" {
		return nil, fmt.Errorf("%s: neither $VISUAL nor $EDITOR is set; export EDITOR=vi (or your editor) and run again", name)
	}
	if strings.ContainsAny(suffix, "/\\") {
		return nil, fmt.Errorf("%s: suffix %q must not contain a path separator", name, suffix)
	}
	f, err := os.CreateTemp("", "bottle-edit-*"+suffix)
	if err != nil {
		return nil, err
	}
	path := f.Name()
	defer os.Remove(path)
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	ctx := env.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// The editor setting may carry flags ("code --wait"), so the shell splits it.
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "bottle-edit", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: editor %q failed: %v; nothing was changed", name, editor, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return starlark.String(data), nil
}

func closest(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var word string
	var choices starlark.Iterable
	if err := starlark.UnpackArgs(name, args, kwargs, "word", &word, "choices", &choices); err != nil {
		return nil, err
	}
	var names []string
	for v := range starlark.Elements(choices) {
		if s, ok := starlark.AsString(v); ok {
			names = append(names, s)
		}
	}
	if best := editdist.Closest(word, names); best != "" {
		return starlark.String(best), nil
	}
	return starlark.None, nil
}

func agentSeccomp(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(name, args, kwargs); err != nil {
		return nil, err
	}
	data, err := agentseccomp.Profile()
	if err != nil {
		return nil, err
	}
	return starlark.String(data), nil
}
