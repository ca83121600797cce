package builtins

import (
	"fmt"
	"strings"
	"testing"
)

func TestYAMLRoundTripKeepsOrder(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `
spec = {"services": {"zeta": {"image": "z", "ports": [80, 443]}, "alpha": {"enabled": True, "ratio": 0.5, "none": None}}}
text = yaml.encode(spec)
x = (text, yaml.decode(text) == spec)
`)
	want := `("services:\n  zeta:\n    image: z\n    ports:\n      - 80\n      - 443\n  alpha:\n    enabled: true\n    ratio: 0.5\n    none: null\n", True)`
	if v.String() != want {
		t.Errorf("got  %s\nwant %s", v, want)
	}
}

func TestYAMLDecodeTypes(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = yaml.decode("a: 1\nb: [x, 'y', 2.5, true, null]\nc: |\n  two\n  lines\n")`)
	want := `{"a": 1, "b": ["x", "y", 2.5, True, None], "c": "two\nlines\n"}`
	if v.String() != want {
		t.Errorf("got  %s\nwant %s", v, want)
	}
	if v := r.eval(t, `x = yaml.decode("")`); v.String() != "None" {
		t.Errorf("empty document = %v, want None", v)
	}
}

func TestYAMLErrorsNameTheLine(t *testing.T) {
	r := newRun(t)
	r.fails(t, `yaml.decode("routes:\n  - host: a\n  host: [b\n")`, "yaml.decode: line ")
	r.fails(t, `yaml.decode("a: 1\nb: 2\na: 3\n")`, "yaml.decode: line 3: ", "duplicate key")
	r.fails(t, `yaml.decode("a:\n\tb: 1\n")`, "yaml.decode: line 2: ")
	r.fails(t, `yaml.encode({"a": {"b": [1, len]}})`, "yaml.encode:", "a.b[1]", "cannot encode a builtin_function_or_method")
}

func TestYAMLErrorsNameTheFile(t *testing.T) {
	r := newRun(t)
	r.fails(t, `yaml.decode("a: 1\nb: c: d\n", name="bottles/x.yaml")`, "yaml.decode: bottles/x.yaml:2: mapping values are not allowed")
	r.fails(t, `yaml.decode("a: 1\nb: 2\na: 3\n", "m.yaml")`, "yaml.decode: m.yaml:3: duplicate key")
	r.fails(t, `yaml.decode("a: [1", name="m.yaml")`, "yaml.decode: m.yaml:")
	r.fails(t, `yaml.decode("a: 1", name=3)`, "yaml.decode: name: want a string or None, got int")
	if v := r.eval(t, `x = yaml.decode("a: 1\n", name=None) == yaml.decode("a: 1\n", name="f.yaml")`); v.String() != "True" {
		t.Errorf("name changes the value: %v", v)
	}
}

func TestJSONModule(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = (json.encode({"a": [1, "two"]}), json.decode('{"k": true}'))`)
	if v.String() != `("{\"a\":[1,\"two\"]}", {"k": True})` {
		t.Errorf("got %s", v)
	}
}

// Compose v1 reads YAML 1.1: strings it would take for booleans or base-60
// numbers must be quoted.
func TestYAMLQuotesYAML11Ambiguities(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = yaml.encode({"on": ["yes", "off", "22:22", "0o644", "1.5", "plain", "a:b"]})`)
	want := `"\"on\":\n  - \"yes\"\n  - \"off\"\n  - \"22:22\"\n  - \"0o644\"\n  - \"1.5\"\n  - plain\n  - a:b\n"`
	if v.String() != want {
		t.Errorf("got  %s\nwant %s", v, want)
	}
}

// The input limits: a "billion laughs" document (aliases of aliases, 342
// bytes that expand to 9^9 strings) is refused by name instead of eating
// gigabytes, and so is a document too long or a second document.
func TestYAMLDecodeLimits(t *testing.T) {
	r := newRun(t)
	laughs := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	r.fails(t, fmt.Sprintf("yaml.decode(%q, name=%q)", laughs, "x.yaml"), "yaml.decode: x.yaml:", "too many YAML aliases (limit 1000")
	// One alias of a big list: few aliases, many values.
	r.fails(t, `yaml.decode("a: &a [" + ",".join(["1"] * 20000) + "]\nb: [" + ",".join(["*a"] * 10) + "]\n")`, "too many YAML values (limit 100000")
	r.fails(t, `yaml.decode("a: " + "x" * (1 << 20))`, "yaml.decode: 1048579 bytes, more than the 1048576")
	r.fails(t, `yaml.decode("a: 1\n---\nb: 2\n", name="m.yaml")`, "yaml.decode: m.yaml:2: a second YAML document starts here")
	if v := r.eval(t, `x = yaml.decode("a: &a [1, 2]\nb: *a\n")`); v.String() != `{"a": [1, 2], "b": [1, 2]}` {
		t.Errorf("a plain alias: %s", v)
	}
}

// A tab where YAML wants indentation says so, whichever error the parser
// gives (for "\t- x" it says a character cannot start a token).
func TestYAMLTabHint(t *testing.T) {
	r := newRun(t)
	for _, text := range []string{"routes:\n\t- host: a\n", "a:\n  b: 1\n\tc: 2\n"} {
		msg := r.fails(t, fmt.Sprintf("yaml.decode(%q)", text), "YAML does not allow tabs for indentation")
		if strings.Contains(msg, "@") {
			t.Errorf("%q: the hint is about @: %s", text, msg)
		}
	}
	r.fails(t, `yaml.decode("a:\n  b: 1\n\tc: 2\n", name="m.yaml")`, "m.yaml:3: YAML does not allow tabs")
}
