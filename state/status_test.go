package state

import (
	"testing"

	"github.com/bottle-sh/bottle/engine"
)

// The status rules ls shows, from metadata and the engine's containers.
func TestLive(t *testing.T) {
	services := map[string]string{"agent": "b-agent", "egress": "b-egress"}
	run := func(name string, running bool, dir string) engine.Container {
		return engine.Container{Name: name, Running: running, Status: map[bool]string{true: "running", false: "exited"}[running],
			Labels: map[string]string{engine.StateLabel: dir}}
	}
	mine, other := "/s/b", "/other/b"
	for _, c := range []struct {
		status string
		cs     []engine.Container
		want   string
	}{
		{Running, []engine.Container{run("b-agent", true, mine), run("b-egress", true, mine)}, "running"},
		{Running, []engine.Container{run("b-agent", false, mine), run("b-egress", true, mine)}, "degraded 1/2"},
		{Running, nil, "down"},
		{Running, []engine.Container{run("b-agent", true, other), run("b-egress", true, other)}, "down"}, // another root's
		{Stopped, nil, "stopped"},
		{Stopped, []engine.Container{run("b-agent", false, mine)}, "stopped, with leftovers"},
		{StartKilled, nil, "start killed: bottle run cleanup"},
		{StartKilled, []engine.Container{run("b-agent", false, mine)}, "start killed, with leftovers: bottle run cleanup"},
		{Starting, []engine.Container{run("b-agent", true, mine)}, "starting"},
	} {
		got := Metadata{Status: c.status, Services: services}.Live(c.cs, mine)
		if got.Status != c.want {
			t.Errorf("%s with %d container(s): %q, want %q", c.status, len(c.cs), got.Status, c.want)
		}
	}
	got := Metadata{Status: Running, Services: services}.Live([]engine.Container{run("b-agent", true, mine)}, mine)
	if got.Services["egress"] != (ServiceStatus{Container: "b-egress", Status: "absent"}) || got.Services["agent"].Status != "running" {
		t.Errorf("services = %+v", got.Services)
	}
}
