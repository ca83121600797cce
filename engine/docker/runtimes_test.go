package docker

import (
	"slices"
	"testing"

	"github.com/moby/moby/client"
)

// Runtimes reports what the daemon's /info does: every runtime, sorted, and
// the default among them (runsc too, when daemon.json registers it).
func TestRuntimes(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	got, err := e.Runtimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Names) != len(info.Info.Runtimes) || !slices.IsSorted(got.Names) {
		t.Errorf("Runtimes() = %v; the daemon lists %d", got.Names, len(info.Info.Runtimes))
	}
	for _, n := range got.Names {
		if _, ok := info.Info.Runtimes[n]; !ok {
			t.Errorf("Runtimes() lists %s, which the daemon does not", n)
		}
	}
	if got.Default == "" || got.Default != info.Info.DefaultRuntime || !slices.Contains(got.Names, got.Default) {
		t.Errorf("default %q, daemon's %q, names %v", got.Default, info.Info.DefaultRuntime, got.Names)
	}
	t.Logf("runtimes %v, default %s", got.Names, got.Default)
}
