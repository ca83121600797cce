package bottletest

import (
	"context"
	"regexp"
	"testing"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
)

func TestRunIDIsNewEachTime(t *testing.T) {
	a, b := runID(), runID()
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(a) || a == b {
		t.Errorf("runID() = %q, then %q; want 8 hex digits, different each time", a, b)
	}
}

// A script's bottles are swept when it ends; another state root's are not
// (another run of the suite on the same daemon).
func TestSweepTakesOnlyThisRoot(t *testing.T) {
	if dockerErr() != nil {
		t.Skip("no Docker daemon")
	}
	ctx := context.Background()
	eng, err := docker.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := runID()
	mine, theirs := t.TempDir()+"/state", t.TempDir()+"/state"
	for name, root := range map[string]string{"sweep-mine-" + id: mine, "sweep-theirs-" + id: theirs} {
		if _, err := eng.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Labels: map[string]string{
			engine.InstanceLabel: "sweep-" + id, engine.StateLabel: root + "/sweep-" + id,
		}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.NetworkRemove(context.Background(), name) })
	}

	sweep(mine)

	ns, err := eng.Networks(ctx, map[string]string{engine.InstanceLabel: "sweep-" + id})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, n := range ns {
		left = append(left, n.Name)
	}
	if len(left) != 1 || left[0] != "sweep-theirs-"+id {
		t.Errorf("after sweep of %s, networks left: %v; want only sweep-theirs-%s", mine, left, id)
	}
}
