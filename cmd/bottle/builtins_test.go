package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sh/bottle/builtins"
)

// TestBuiltinsListsRegistry: `bottle builtins --json` lists every entry of
// the registry the interpreter predeclares, with a signature and a doc.
func TestBuiltinsListsRegistry(t *testing.T) {
	var out, errb bytes.Buffer
	if code := bottleMain([]string{"builtins", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var b struct{ Name, Sig, Doc string }
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if b.Doc == "" || b.Sig == "" {
			t.Errorf("%s: empty sig or doc", b.Name)
		}
		listed[b.Name] = true
	}
	for _, b := range builtins.All() {
		if !listed[b.Name] {
			t.Errorf("registry entry %s is not listed", b.Name)
		}
	}
	for name := range builtins.Predeclared() {
		if !listed[name] {
			t.Errorf("predeclared %s is not listed", name)
		}
	}
	if len(listed) != len(builtins.All()) {
		t.Errorf("listed %d builtins; the registry has %d", len(listed), len(builtins.All()))
	}
}

var updateDesign = flag.Bool("update", false, "rewrite docs/DESIGN.md's builtin reference from the registry")

// The builtin reference in docs/DESIGN.md is what `bottle builtins
// --markdown` prints from the registry: a builtin's entry is its one
// description. -update rewrites the block between the markers.
func TestDesignBuiltins(t *testing.T) {
	const (
		begin = "<!-- BEGIN bottle builtins --markdown (generated; do not edit) -->\n"
		end   = "<!-- END bottle builtins --markdown -->\n"
	)
	path := filepath.Join("..", "..", "docs", "DESIGN.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), begin)
	block, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("docs/DESIGN.md lacks the markers %q and %q", begin, end)
	}
	var out, errb bytes.Buffer
	if code := bottleMain([]string{"builtins", "--markdown"}, &out, &errb); code != 0 {
		t.Fatalf("bottle builtins --markdown: exit %d: %s", code, errb.String())
	}
	if block == out.String() {
		return
	}
	if *updateDesign {
		if err := os.WriteFile(path, []byte(before+begin+out.String()+end+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, got := strings.Split(out.String(), "\n"), strings.Split(block, "\n")
	for i := range max(len(want), len(got)) {
		w, g := "", ""
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Fatalf("docs/DESIGN.md's builtin reference differs from the registry at its line %d:\n DESIGN.md: %s\n registry:  %s\n(run go test ./cmd/bottle -run TestDesignBuiltins -update)", i+1, g, w)
		}
	}
}
