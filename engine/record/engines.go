package record

import (
	"context"

	"github.com/bottle-sh/bottle/engine"
)

// Engines is the dry run's engines: names resolve as the real engines'
// do (Names), and every engine opens as the recorder, which says so.
type Engines struct {
	Names    engine.Engines
	Recorder *Recorder
}

var _ engine.Engines = Engines{}

// Resolve implements engine.Engines.
func (e Engines) Resolve(ref string) (engine.Endpoint, error) { return e.Names.Resolve(ref) }

// Open implements engine.Engines: nothing is contacted.
func (e Engines) Open(ctx context.Context, at engine.Endpoint) (engine.Engine, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.Recorder.printf("use engine %s", at)
	return e.Recorder, nil
}
