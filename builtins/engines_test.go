package builtins

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/record"
)

// twoEngines resolves "far" (a context) and any address, and opens each
// host as a recorder of its own, so a test sees which engine got a call.
type twoEngines struct {
	out    map[string]*bytes.Buffer // host -> what its recorder printed
	opened int
}

func (e *twoEngines) Resolve(ref string) (engine.Endpoint, error) {
	switch {
	case ref == "far":
		return engine.Endpoint{Name: "far", Host: "tcp://far:2376", TLS: true, TLSVerify: true, CertPath: "/far"}, nil
	case strings.Contains(ref, "://"):
		return engine.Endpoint{Host: ref}, nil
	}
	return engine.Endpoint{}, fmt.Errorf("engine %q: no Docker context of that name", ref)
}

func (e *twoEngines) Open(_ context.Context, at engine.Endpoint) (engine.Engine, error) {
	e.opened++
	b := &bytes.Buffer{}
	e.out[at.Host] = b
	return record.New(b), nil
}

func newTwoEngineRun(t *testing.T) (*testRun, *twoEngines) {
	r := newRun(t)
	engines := &twoEngines{out: map[string]*bytes.Buffer{"unix:///near.sock": r.stderr}}
	r.env.Endpoint = engine.Endpoint{Host: "unix:///near.sock"}
	r.env.Engines = engines
	return r, engines
}

// Steps after use_engine go to the engine it names; the undo of each step
// goes to the engine that made the thing, whatever use_engine did since.
func TestUseEngineUndoGoesWhereTheThingIs(t *testing.T) {
	r, engines := newTwoEngineRun(t)
	v := r.eval(t, `
network_create("near-net")
x = use_engine("far")
network_create("far-net")
use_engine(engine())   # the same engine again: nothing new is opened
use_engine({"name": "", "host": "unix:///near.sock"})
`)
	if !strings.Contains(v.String(), `name = "far"`) || !strings.Contains(v.String(), `host = "tcp://far:2376"`) || !strings.Contains(v.String(), `tls_verify = True`) {
		t.Errorf("use_engine returned %s", v)
	}
	far := engines.out["tcp://far:2376"]
	if far == nil || !strings.Contains(far.String(), "create network far-net") || strings.Contains(r.stderr.String(), "far-net") {
		t.Fatalf("far-net was not made on far alone: near %q, far %v", r.stderr.String(), far)
	}
	if engines.opened != 1 {
		t.Errorf("engines opened %d times, want 1 (each engine once a run)", engines.opened)
	}
	r.stderr.Reset()
	far.Reset()
	r.journal.rollback(t)
	// Each recorder numbers its networks from 1: count the removals each got.
	if n, m := strings.Count(far.String(), "remove network"), strings.Count(r.stderr.String(), "remove network"); n != 1 || m != 1 {
		t.Errorf("undo: far removed %d network(s), near %d; want one each:\nfar  %q\nnear %q", n, m, far.String(), r.stderr.String())
	}
}

// engine() says where the steps go and whether --engine named it.
func TestEngineSaysWhere(t *testing.T) {
	r, _ := newTwoEngineRun(t)
	given := r.env.Endpoint
	r.env.Given = &given
	v := r.eval(t, `x = [engine().given, use_engine("far").given, engine().host]`)
	if v.String() != `[True, False, "tcp://far:2376"]` {
		t.Errorf("got %s", v)
	}
}

func TestUseEngineBadInput(t *testing.T) {
	r, _ := newTwoEngineRun(t)
	r.fails(t, `use_engine("nosuch")`, `use_engine: engine "nosuch": no Docker context of that name`)
	r.fails(t, `use_engine(3)`, "want a context name, an address or what engine() returns, got int")
	r.fails(t, `use_engine({"host": 3})`, "engine's host: got int")
	r.fails(t, `use_engine({})`, "an engine needs a host or a name")
	r.fails(t, `use_engine({"name": "gone", "host": "tcp://x:1"})`, `engine "gone": no Docker context of that name (recorded as gone (tcp://x:1))`)
	if r.env.Endpoint.Host != "unix:///near.sock" {
		t.Errorf("a refused use_engine moved the run to %s", r.env.Endpoint)
	}
}
