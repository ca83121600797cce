package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Every recipe under recipes/examples/ runs to the end under --dry-run and
// writes nothing: a newcomer's first command works.
func TestExamplesRunUnderDryRun(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join("..", "..", "recipes", "examples", "*.star"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no recipes under recipes/examples/ (%v)", err)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			var stdout, stderr bytes.Buffer
			if code := bottleMain([]string{"run", "--dry-run", "--state", state, ex}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("--dry-run made the state root (%v)", err)
			}
			if !bytes.Contains(stderr.Bytes(), []byte("dry-run: ")) {
				t.Errorf("no dry-run step printed:\n%s", stderr.String())
			}
		})
	}
}
