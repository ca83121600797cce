package main

import (
	"context"
	"io"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
	"github.com/bottle-sh/bottle/engine/record"
)

// pickEngine returns the recorder under --dry-run (it prints each step on
// stderr and changes nothing; no daemon is contacted), else the Docker
// engine, whose first round trip to the daemon (ping, API version) runs
// while the recipe loads; the first engine call waits for it.
func pickEngine(ctx context.Context, dryRun bool, stderr io.Writer) (engine.Engine, error) {
	if dryRun {
		return record.New(stderr), nil
	}
	return docker.NewAsync(ctx)
}
