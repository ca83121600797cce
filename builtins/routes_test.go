package builtins

import (
	"context"
	"fmt"
	"testing"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/record"
)

func TestRoutesCheck(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = routes_check("""
routes:
  - host: api.anthropic.com
    paths: ["/v1/"]
  - host: "*.github.com"
""")`)
	if v.String() != "2" {
		t.Errorf("route count = %s, want 2", v)
	}
	r.fails(t, "\nroutes_check(\"routes:\\n  - host: https://x.com/\\n\")", "test.star:2:", "routes_check:", "line 2", "is a URL")
}

// failingEngine fails inspect without naming the container.
type failingEngine struct{ *record.Recorder }

func (failingEngine) Inspect(context.Context, string) (engine.Container, error) {
	return engine.Container{}, fmt.Errorf("daemon says: %w", engine.ErrNotFound)
}

func TestEngineErrorsNameBuiltinAndObject(t *testing.T) {
	r := newRun(t)
	r.env.Engine = failingEngine{r.env.Engine.(*record.Recorder)}
	r.fails(t, `inspect("bottle-x-agent-1")`, "inspect bottle-x-agent-1: daemon says: not found")
}
