package docker

import (
	"context"
	"slices"

	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// Runtimes lists the OCI runtimes the daemon offers (daemon.json
// "runtimes" plus its built-in ones) and its default.
func (e *Engine) Runtimes(ctx context.Context) (engine.Runtimes, error) {
	if err := e.ready(ctx); err != nil {
		return engine.Runtimes{}, err
	}
	res, err := e.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return engine.Runtimes{}, fail("runtimes", "daemon", err)
	}
	out := engine.Runtimes{Default: res.Info.DefaultRuntime}
	for name := range res.Info.Runtimes {
		out.Names = append(out.Names, name)
	}
	slices.Sort(out.Names)
	return out, nil
}
