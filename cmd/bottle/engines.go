package main

import (
	"context"
	"io"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
	"github.com/bottle-sh/bottle/engine/record"
)

// pickEngine returns the recorder under --dry-run (it prints each step on
// stderr and changes nothing), else the Docker engine.
func pickEngine(ctx context.Context, dryRun bool, stderr io.Writer) (engine.Engine, error) {
	if dryRun {
		return record.New(stderr), nil
	}
	return docker.New(ctx)
}
