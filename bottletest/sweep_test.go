package bottletest

import (
	"context"
	"regexp"
	"sort"
	"strings"
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

// A script's bottles are swept when it ends, with the objects it labelled
// with its $RUNID but no state dir; another run's (another state root, another
// RUNID: another run of the suite on the same daemon) are not.
func TestSweepTakesOnlyThisRun(t *testing.T) {
	if dockerErr() != nil {
		t.Skip("no Docker daemon")
	}
	ctx := context.Background()
	eng, err := docker.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, other := runID(), runID()
	mine, theirs := t.TempDir()+"/state", t.TempDir()+"/state"
	nets := map[string]map[string]string{
		"sweep-mine-" + id:       {engine.InstanceLabel: "sweep-" + id, engine.StateLabel: mine + "/sweep-" + id},
		"sweep-legacy-" + id:     {engine.InstanceLabel: "sweep-" + id + "-legacy"},
		"sweep-theirs-" + other:  {engine.InstanceLabel: "sweep-" + other, engine.StateLabel: theirs + "/sweep-" + other},
		"sweep-legacy2-" + other: {engine.InstanceLabel: "sweep-" + other + "-legacy"},
	}
	for name, labels := range nets {
		if _, err := eng.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.NetworkRemove(context.Background(), name) })
	}

	sweep(mine, id)

	ns, err := eng.Networks(ctx, map[string]string{engine.InstanceLabel: ""})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, n := range ns {
		if _, ours := nets[n.Name]; ours {
			left = append(left, n.Name)
		}
	}
	sort.Strings(left)
	want := []string{"sweep-legacy2-" + other, "sweep-theirs-" + other}
	if strings.Join(left, " ") != strings.Join(want, " ") {
		t.Errorf("after sweep of %s (run %s), networks left: %v; want %v", mine, id, left, want)
	}
}
