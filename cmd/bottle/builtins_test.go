package main

import (
	"bytes"
	"encoding/json"
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
