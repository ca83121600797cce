// Package state is the one owner of a bottle's state on disk: the shape of
// <state root>/<slug>/metadata.json and the rules that turn it, with what the
// engine reports now, into the status `bottle ls` shows. recipes/start.star
// writes the file (through lib/bottle.star's write_metadata) and stop.star
// updates it; bottle ls and attach read it here, cleanup.star reads its
// status, and a UI would read it here too. A test runs start.star and checks
// that what it writes parses into Metadata, field for field.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sh/bottle/internal/flock"
)

// MetadataFile is the name of a bottle's metadata in its state directory.
const MetadataFile = "metadata.json"

// The statuses metadata.json holds, and those of a state directory without
// one: a start in progress (it holds the directory locked) or one that died.
const (
	Running     = "running"
	Stopped     = "stopped"
	Starting    = "starting"
	StartKilled = "start killed"
)

// Metadata is metadata.json as start.star writes it.
type Metadata struct {
	Name   string `json:"name"`
	Slug   string `json:"slug"`
	Status string `json:"status"` // Running or Stopped
	// Engine is the Docker engine the bottle was started on; every later
	// step goes there (lib/bottle.star). Zero for a bottle started before
	// bottle recorded engines: it is on the run's engine.
	Engine         Engine             `json:"engine"`
	Created        string             `json:"created"` // RFC 3339: when compose up began
	Stopped        string             `json:"stopped,omitempty"`
	ComposeProject string             `json:"compose_project"`
	ComposeFile    string             `json:"compose_file"`
	Networks       map[string]Network `json:"networks"` // "internal", "external"
	Services       map[string]string  `json:"services"` // service -> container name
	Images         map[string]string  `json:"images"`   // service -> image
	Attach         Attach             `json:"attach"`
	Runtime        string             `json:"runtime"`   // the agent's OCI runtime: runsc, runc, ...
	Workspace      *Workspace         `json:"workspace"` // nil: none mounted
	Manifest       Manifest           `json:"manifest"`
	Routes         int                `json:"routes"` // how many egress routes start loaded
	// Rendered holds the sha256 of each live-config file as start rendered
	// it (null for one it did not), so the next start can tell live changes.
	Rendered      map[string]*string `json:"rendered"`
	PipelockReady string             `json:"pipelock_ready"` // the log line that says pipelock is up
	// PipelockReload is the manifest's pipelock.reload (auto, signal or
	// restart): how allowlist_apply applies a change.
	PipelockReload string `json:"pipelock_reload"`
}

// Engine is the Docker engine a bottle is on: engine.Endpoint as
// start.star records it (lib/bottle.star's engine_record).
type Engine struct {
	Name      string `json:"name"` // the Docker context; "" when named by address
	Host      string `json:"host"` // unix://..., tcp://host:port, ssh://...
	TLS       bool   `json:"tls"`
	TLSVerify bool   `json:"tls_verify"`
	CertPath  string `json:"cert_path"`
}

// Network is one of a bottle's networks.
type Network struct {
	Name    string `json:"name"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

// Attach is what `bottle attach SLUG` runs: the manifest's agent.attach and
// agent.user, defaults filled in by the recipes (lib/manifest.star).
type Attach struct {
	Service string   `json:"service"`
	Cmd     []string `json:"cmd"`
	User    string   `json:"user"`
}

// Workspace is the host directory mounted into the agent.
type Workspace struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"read_only"`
}

// Manifest says which manifest the bottle was started from.
type Manifest struct {
	Path   string `json:"path"` // "" for the default bottle
	Digest string `json:"digest"`
}

// Read reads <root>/<slug>/metadata.json.
func Read(root, slug string) (Metadata, error) {
	var m Metadata
	path := filepath.Join(root, slug, MetadataFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("no bottle %q under %s (bottle ls lists them)", slug, root)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %v", path, err)
	}
	if m.Slug == "" {
		m.Slug = slug
	}
	return m, nil
}

// List returns the bottles under root, sorted by slug: each directory with a
// metadata.json, and each without one as a start (Starting or StartKilled).
// Directories whose metadata.json does not parse are not bottles.
func List(root string) ([]Metadata, error) {
	dirs, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var out []Metadata
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, d.Name(), MetadataFile)); errors.Is(err, fs.ErrNotExist) {
			out = append(out, startOf(root, d.Name()))
			continue
		}
		if m, err := Read(root, d.Name()); err == nil {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Metadata) int { return strings.Compare(a.Slug, b.Slug) })
	return out, nil
}

// startOf describes a state directory with no metadata.json: a start in
// progress holds it locked (state_dir()); one that is not held died before
// it finished, and cleanup removes what it left.
func startOf(root, slug string) Metadata {
	m := Metadata{Name: slug, Slug: slug, Status: StartKilled}
	if f, err := os.Open(filepath.Join(root, slug)); err == nil {
		if ok, err := flock.Try(f); err == nil && !ok {
			m.Status = Starting
		}
		f.Close() // releases the lock if this took it
	}
	return m
}
