package main

import (
	"context"
	"io"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
)

// newRecorder makes the dry-run engine. TODO: record.New(stderr) once
// engine/record lands; until then --dry-run reports that it is missing.
var newRecorder = func(stderr io.Writer) (engine.Engine, error) {
	return nil, errNoRecorder
}

// newDocker makes the real engine.
func newDocker(ctx context.Context) (engine.Engine, error) {
	return docker.New(ctx)
}
