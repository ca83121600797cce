package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listBottles asks each engine once, at the same time, and a bottle whose
// engine does not answer (refused, or a context that is gone) is listed
// with its status unknown and why, beside the others. (Run under -race:
// the engines are asked from goroutines of their own.)
func TestListBottlesEnginesThatDoNotAnswer(t *testing.T) {
	root := t.TempDir()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	for slug, engine := range map[string]string{
		"refused":  `{"name": "", "host": "tcp://127.0.0.1:1"}`,
		"refused2": `{"name": "", "host": "tcp://127.0.0.1:1"}`,
		"gone":     `{"name": "gone", "host": "tcp://10.0.0.1:2376", "tls": true, "tls_verify": true}`,
		"legacy":   `null`,
	} {
		dir := filepath.Join(root, slug)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		meta := `{"name": "` + slug + `", "slug": "` + slug + `", "status": "running", "engine": ` + engine + `, "services": {"agent": "a"}}`
		if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(meta), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, err := listBottles(ctx, root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ engine, err string }{
		"refused":  {"tcp://127.0.0.1:1", "no daemon answers at tcp://127.0.0.1:1"},
		"refused2": {"tcp://127.0.0.1:1", "no daemon answers at tcp://127.0.0.1:1"},
		"gone":     {"gone", `engine "gone": no Docker context of that name`},
		"legacy":   {"default", "no daemon answers at DOCKER_HOST=unix://"},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for _, e := range entries {
		w := want[e.Slug]
		if e.Engine != w.engine || e.Status != "unknown (its engine does not answer)" || !strings.Contains(e.EngineError, w.err) {
			t.Errorf("%s: engine %q, status %q, error %q; want engine %q and an error saying %q", e.Slug, e.Engine, e.Status, e.EngineError, w.engine, w.err)
		}
	}
}
