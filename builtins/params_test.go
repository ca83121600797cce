package builtins

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const declareStart = `
p = params(
    name = param("string", required = True, doc = "the bottle's name"),
    manifest = param("path", doc = "the manifest"),
    fresh = param("bool", default = False, doc = "render anew"),
    timeout = param("seconds", default = 10, doc = "how long to wait"),
    count = param("int", default = -1, doc = "how many"),
)
`

func TestParamsConvertsArguments(t *testing.T) {
	r := newRun(t)
	r.env.Args = map[string]string{"name": "x", "fresh": "yes", "timeout": "15", "count": "-3"}
	v := r.eval(t, declareStart+"x = (p.name, p.manifest, p.fresh, p.timeout, p.count)")
	if v.String() != `("x", None, True, 15, -3)` {
		t.Errorf("got %s", v)
	}
	r.env.Args = map[string]string{"name": "y", "fresh": "0"}
	r.env.paramsDone = false
	v = r.eval(t, declareStart+"x = (p.fresh, p.timeout, p.count)")
	if v.String() != `(False, 10, -1)` {
		t.Errorf("defaults: got %s", v)
	}
}

// Every problem with the arguments is one line naming the key and the fix,
// and the error is an *ArgsError (bottle run: exit 2).
func TestParamsRefusesBadArguments(t *testing.T) {
	for _, c := range []struct {
		args map[string]string
		want []string
	}{
		{map[string]string{"name": "x", "manfest": "m.yaml"}, []string{"manfest=m.yaml: unknown parameter (did you mean manifest?)"}},
		{map[string]string{"name": "x", "frobnicate": "1"}, []string{"frobnicate=1: unknown parameter (parameters: name, manifest, fresh, timeout, count)"}},
		{map[string]string{"name": "x", "timeout": "abc"}, []string{"timeout=abc: not an integer (seconds)"}},
		{map[string]string{"name": "x", "timeout": "15s"}, []string{"timeout=15s: not an integer (seconds); give whole seconds"}},
		{map[string]string{"name": "x", "timeout": "-1"}, []string{"timeout=-1: out of range"}},
		{map[string]string{"name": "x", "count": "1.5"}, []string{"count=1.5: not an integer"}},
		{map[string]string{"name": "x", "fresh": "2"}, []string{"fresh=2: not a bool; give 1 or 0"}},
		{map[string]string{"name": "x", "manifest": ""}, []string{"manifest=: empty path"}},
		{map[string]string{}, []string{"missing name=NAME: the bottle's name"}},
		{map[string]string{"name": ""}, []string{"name=: empty; the bottle's name"}},
		{map[string]string{"nme": "x", "timeout": "x"}, []string{"3 bad arguments", "nme=x: unknown parameter (did you mean name?)", "timeout=x: not an integer", "missing name="}},
	} {
		r := newRun(t)
		r.env.Args = c.args
		_, err := r.exec(declareStart + `write_inplace("out", "x")`)
		var bad *ArgsError
		if !errors.As(err, &bad) {
			t.Fatalf("%v: error %v, want an *ArgsError", c.args, err)
		}
		for _, w := range append(c.want, "test.star:", "`bottle run test.star -h` lists its parameters") {
			if !strings.Contains(bad.Error(), w) {
				t.Errorf("%v: %q lacks %q", c.args, bad.Error(), w)
			}
		}
		if len(r.journal.steps) != 0 {
			t.Errorf("%v: a step ran", c.args)
		}
	}
}

func TestParamsDeclarationErrors(t *testing.T) {
	r := newRun(t)
	r.fails(t, `param("strng")`, `param: type "strng": want one of bool, int, path, seconds, string (did you mean string?)`)
	r.fails(t, `param("seconds", default = "10")`, `param: default "10" is a string; a seconds parameter's default is of type int`)
	r.fails(t, `param("string", default = "x", required = True)`, "required=True with a default")
	r.fails(t, `params(name = "x")`, "params: name: got string, want param(...)")
	r.fails(t, `params(param("string"))`, "declare each parameter by keyword")
	r.env.Args = map[string]string{}
	r.fails(t, `params()
params()`, "params: called twice")
}

// params() after a step would let a bad argument stop a run that already
// changed something: it is refused.
func TestParamsComesFirst(t *testing.T) {
	r := newRun(t)
	r.env.Args = map[string]string{}
	r.fails(t, `write_inplace("out", "x")
params()`, "params: called after write_inplace(); declare the parameters before the recipe's first step")
}

func TestParamsHelp(t *testing.T) {
	r := newRun(t)
	var help bytes.Buffer
	r.env.Help = &help
	_, err := r.exec(declareStart + `write_inplace("out", "x")`)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("error %v, want ErrHelp", err)
	}
	want := `Parameters of test.star (KEY=VALUE):
  name=NAME        (required) the bottle's name
  manifest=PATH    the manifest
  fresh=BOOL       render anew (default 0)
  timeout=SECONDS  how long to wait (default 10)
  count=INT        how many (default -1)
`
	if help.String() != want {
		t.Errorf("help:\n%s\nwant\n%s", help.String(), want)
	}
	// A recipe without params(): its first step is refused, nothing runs.
	r = newRun(t)
	r.env.Help = &help
	_, err = r.exec(`write_inplace("out", "x")`)
	if !errors.Is(err, ErrNoParams) || len(r.journal.steps) != 0 {
		t.Errorf("error %v, %d steps; want ErrNoParams and none", err, len(r.journal.steps))
	}
}
