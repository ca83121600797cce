package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
	"github.com/bottle-sh/bottle/engine/record"
	"github.com/bottle-sh/bottle/state"
)

// runEngines is what a run is given: its first engine, where that is, and
// the engines use_engine() can reach.
type runEngines struct {
	first engine.Engine
	at    engine.Endpoint
	all   engine.Engines
}

// dockerEngines resolves engine names from this process's environment and
// the docker CLI's context store.
func dockerEngines() docker.Engines { return docker.Engines{Getenv: os.Getenv} }

// pickEngine resolves ref (--engine: a Docker context or an address; ""
// the default engine, as the docker CLI picks it) and returns the
// recorder under --dry-run (it prints each step on stderr and changes
// nothing; no daemon is contacted), else that Docker engine, whose first
// round trip (ping, API version) runs while the recipe loads; the first
// engine call waits for it.
func pickEngine(ctx context.Context, dryRun bool, ref string, stderr io.Writer) (runEngines, error) {
	names := dockerEngines()
	at, err := names.Resolve(ref)
	if err != nil {
		return runEngines{}, err
	}
	if dryRun {
		rec := record.New(stderr)
		return runEngines{first: rec, at: at, all: record.Engines{Names: names, Recorder: rec}}, nil
	}
	first, err := docker.NewAt(ctx, at)
	if err != nil {
		return runEngines{}, err
	}
	return runEngines{first: first, at: at, all: names}, nil
}

// bottleEngine connects to the engine a bottle is on (its metadata.json's
// engine; a context is looked up again, in case its address moved), or
// the default engine for a bottle that recorded none.
func bottleEngine(ctx context.Context, m state.Metadata) (*docker.Engine, error) {
	if m.Engine.Host == "" {
		return docker.New(ctx)
	}
	at := endpointOf(m.Engine)
	if at.Name != "" {
		now, err := dockerEngines().Resolve(at.Name)
		if err != nil {
			return nil, fmt.Errorf("%w (its metadata.json records %s)", err, at)
		}
		at = now
	}
	return docker.Connect(ctx, at)
}

// endpointOf is the engine a bottle's metadata records.
func endpointOf(e state.Engine) engine.Endpoint {
	return engine.Endpoint{Name: e.Name, Host: e.Host, TLS: e.TLS, TLSVerify: e.TLSVerify, CertPath: e.CertPath}
}
