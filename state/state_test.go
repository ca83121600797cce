package state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/record"
	"github.com/bottle-sh/bottle/runtime"
	"github.com/bottle-sh/bottle/state"
)

// What recipes/start.star writes is what Metadata declares: every key of the
// file is a field (no key unknown to Go), and the fields ls and attach rely
// on are filled. start.star runs for real against the recorder engine, so
// its own files land in a temporary state root.
func TestStartWritesMetadata(t *testing.T) {
	work := t.TempDir()
	root := filepath.Join(work, "state")
	manifest := filepath.Join(work, "m.yaml")
	workspace := filepath.Join(work, "src")
	if err := os.Mkdir(workspace, 0o700); err != nil {
		t.Fatal(err)
	}
	text := "workspace: {path: " + workspace + ", read_only: true}\negress:\n  routes:\n    - host: api.example.com\n"
	if err := os.WriteFile(manifest, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe, err := filepath.Abs(filepath.Join("..", "recipes", "start.star"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = runtime.Run(context.Background(), runtime.Options{
		Recipe:    recipe,
		Args:      map[string]string{"name": "Meta Test", "manifest": manifest},
		Engine:    record.New(io.Discard),
		Endpoint:  engine.Endpoint{Name: "builder", Host: "tcp://127.0.0.1:2376", TLS: true, TLSVerify: true, CertPath: "/certs"},
		StateRoot: root,
		WorkDir:   work,
		Stdout:    &out,
		Stderr:    &out,
		Getenv:    func(string) (string, bool) { return "", false },
	})
	if err != nil {
		t.Fatalf("start.star: %v\n%s", err, out.String())
	}
	data, err := os.ReadFile(filepath.Join(root, "meta-test", state.MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m state.Metadata
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("metadata.json does not parse into state.Metadata: %v\n%s", err, data)
	}
	if m.Slug != "meta-test" || m.Name != "Meta Test" || m.Status != state.Running || m.Created == "" ||
		m.ComposeProject == "" || m.Services["agent"] == "" || m.Services["egress"] == "" ||
		m.Attach.Service != "agent" || len(m.Attach.Cmd) == 0 || m.Routes != 1 || m.Manifest.Digest == "" ||
		m.Networks["internal"].Subnet == "" || m.Workspace == nil || !m.Workspace.ReadOnly ||
		m.Engine != (state.Engine{Name: "builder", Host: "tcp://127.0.0.1:2376", TLS: true, TLSVerify: true, CertPath: "/certs"}) {
		t.Errorf("metadata.json lacks a field ls or attach reads:\n%s", data)
	}
	read, err := state.Read(root, "meta-test")
	if err != nil || read.Slug != m.Slug {
		t.Errorf("Read = %+v, %v", read, err)
	}
}
