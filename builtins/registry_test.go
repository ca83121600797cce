package builtins

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestRegistryCoversTheContract(t *testing.T) {
	all := All()
	if !sort.SliceIsSorted(all, func(i, j int) bool { return all[i].Name < all[j].Name }) {
		t.Error("All() is not sorted")
	}
	byName := map[string]Builtin{}
	for _, b := range all {
		byName[b.Name] = b
		if b.Sig == "" || b.Doc == "" || b.Value == nil {
			t.Errorf("%s: missing Sig, Doc or Value", b.Name)
		}
		if !strings.HasPrefix(b.Sig, b.Name) {
			t.Errorf("%s: Sig %q does not start with the name", b.Name, b.Sig)
		}
	}
	// Every builtin named in the contract's tables (docs/DESIGN.md) is here.
	design, err := os.ReadFile("../docs/DESIGN.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("`([a-z_]+(?:\\.[a-z_]+)?)\\(").FindAllStringSubmatch(string(design), -1) {
		if _, ok := byName[m[1]]; !ok && m[1] != "load" {
			t.Errorf("DESIGN.md names %s(), which the registry lacks", m[1])
		}
	}
	for _, mod := range []string{"yaml", "json", "allowlist", "time", "math"} {
		if _, ok := byName[mod].Value.(starlark.HasAttrs); !ok {
			t.Errorf("module %s missing", mod)
		}
	}
	for _, name := range []string{"yaml.encode", "json.decode", "allowlist.parse", "time.now", "math.floor",
		"containers", "networks", "container_remove", "fail", "struct", "on_failure"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	effects := map[string]bool{}
	for _, b := range all {
		effects[b.Name] = b.Effect
	}
	for name, want := range map[string]bool{"write_inplace": true, "network_create": true, "compose_up": true,
		"audit": true, "read": false, "inspect": false, "yaml.decode": false, "diff": false} {
		if effects[name] != want {
			t.Errorf("%s: Effect = %v, want %v", name, effects[name], want)
		}
	}
}

func TestPredeclaredHasOnlyTopLevelNames(t *testing.T) {
	p := Predeclared()
	for name := range p {
		if strings.Contains(name, ".") {
			t.Errorf("Predeclared has %q", name)
		}
	}
	if _, ok := p["write_inplace"]; !ok {
		t.Error("Predeclared lacks write_inplace")
	}
	p["write_inplace"] = starlark.None
	if Predeclared()["write_inplace"] == starlark.None {
		t.Error("Predeclared returns a shared dict")
	}
}

// BenchmarkBuiltinCall measures one cheap builtin call through the
// interpreter: exists() on a missing relative path, from a compiled loop.
func BenchmarkBuiltinCall(b *testing.B) {
	r := newRun(b)
	r.env.Progress = nil
	thread := &starlark.Thread{Name: "bench"}
	SetEnv(thread, r.env)
	g, err := starlark.ExecFile(thread, "bench.star", "def f(n):\n  for i in range(n):\n    exists(\"nope\")\n", Predeclared())
	if err != nil {
		b.Fatal(err)
	}
	f := g["f"]
	b.ResetTimer()
	if _, err := starlark.Call(thread, f, starlark.Tuple{starlark.MakeInt(b.N)}, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPureBuiltinCall is the same with getenv(), which touches no disk:
// the cost of the wrapper and argument unpacking alone.
func BenchmarkPureBuiltinCall(b *testing.B) {
	r := newRun(b)
	thread := &starlark.Thread{Name: "bench"}
	SetEnv(thread, r.env)
	g, err := starlark.ExecFile(thread, "bench.star", "def f(n):\n  for i in range(n):\n    getenv(\"HOME\")\n", Predeclared())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if _, err := starlark.Call(thread, g["f"], starlark.Tuple{starlark.MakeInt(b.N)}, nil); err != nil {
		b.Fatal(err)
	}
}
