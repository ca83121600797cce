package builtins

import (
	"context"
	"strings"
	"testing"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/record"
)

// spyEngine is the recorder, remembering what the builtins asked of it.
type spyEngine struct {
	*record.Recorder
	network engine.NetworkSpec
	compose engine.ComposeProject
	downs   []string
	exec    engine.ExecResult
}

func (s *spyEngine) NetworkCreate(ctx context.Context, spec engine.NetworkSpec) (engine.Network, error) {
	s.network = spec
	return s.Recorder.NetworkCreate(ctx, spec)
}

func (s *spyEngine) ComposeUp(ctx context.Context, p engine.ComposeProject) (engine.ComposeResult, error) {
	s.compose = p
	return s.Recorder.ComposeUp(ctx, p)
}

func (s *spyEngine) ComposeDown(ctx context.Context, project, dir, logs string) error {
	s.downs = append(s.downs, project+" "+dir+" "+logs)
	return s.Recorder.ComposeDown(ctx, project, dir, logs)
}

func (s *spyEngine) Exec(ctx context.Context, c string, cmd []string) (engine.ExecResult, error) {
	s.Recorder.Exec(ctx, c, cmd)
	return s.exec, nil
}

func spy(r *testRun) *spyEngine {
	s := &spyEngine{Recorder: r.env.Engine.(*record.Recorder)}
	r.env.Engine = s
	return s
}

func TestNetworkCreate(t *testing.T) {
	r := newRun(t)
	s := spy(r)
	v := r.eval(t, `x = network_create("bottle-x-int", internal=True)`)
	if s.network.Labels[engine.InstanceLabel] != "bottle-x-int" {
		t.Errorf("labels = %v, want the instance label defaulted to the name", s.network.Labels)
	}
	want := `struct(gateway = "10.213.0.17", id = "dry-run-network-1", internal = True, labels = {"dev.bottle.instance": "bottle-x-int"}, name = "bottle-x-int", subnet = "10.213.0.16/28")`
	if v.String() != want {
		t.Errorf("got  %s\nwant %s", v, want)
	}
	r.eval(t, `network_create("n2", labels={"dev.bottle.instance": "x", "k": "v"}, subnet="10.9.0.0/24")`)
	if s.network.Labels[engine.InstanceLabel] != "x" || s.network.Subnet != "10.9.0.0/24" {
		t.Errorf("spec = %+v, want the caller's label kept", s.network)
	}
	if len(r.journal.steps) != 2 || r.journal.steps[0].what != "remove network bottle-x-int" {
		t.Fatalf("journal = %v", r.journal.steps)
	}
	r.stderr.Reset()
	r.journal.rollback(t)
	if !strings.Contains(r.stderr.String(), "dry-run: remove network dry-run-network-2\ndry-run: remove network dry-run-network-1\n") {
		t.Errorf("undo did not remove both networks in reverse, by id: %q", r.stderr.String())
	}
	if r.progress.steps[0] != "network_create bottle-x-int" {
		t.Errorf("progress = %v", r.progress.steps)
	}
}

func TestComposeUp(t *testing.T) {
	r := newRun(t)
	s := spy(r)
	v := r.eval(t, `
spec = {
    "services": {
        "agent": {"image": "alpine", "labels": {"role": "agent"}},
        "egress": {"image": "bottle:local", "labels": ["dev.bottle.instance=other"]},
        "plain": {"image": "busybox"},
    },
    "networks": {"int": {"external": True, "name": "bottle-x-int"}},
}
x = compose_up("bottle-x", spec, "state/x")
`)
	if s.compose.File != r.path("state/x/docker-compose.yml") || s.compose.Dir != r.path("state/x") {
		t.Errorf("project = %+v", s.compose)
	}
	got := string(s.compose.YAML)
	want := `services:
  agent:
    image: alpine
    labels:
      role: agent
      dev.bottle.instance: bottle-x
  egress:
    image: bottle:local
    labels:
      - dev.bottle.instance=other
  plain:
    image: busybox
    labels:
      dev.bottle.instance: bottle-x
networks:
  int:
    external: true
    name: bottle-x-int
`
	if got != want {
		t.Errorf("YAML:\n%s\nwant:\n%s", got, want)
	}
	if c := field(t, v, "containers"); c.String() != `{"agent": "bottle-x-agent-1", "egress": "bottle-x-egress-1", "plain": "bottle-x-plain-1"}` {
		t.Errorf("containers = %s", c)
	}
	r.journal.rollback(t)
	if len(s.downs) != 1 || s.downs[0] != "bottle-x "+r.path("state/x")+" " {
		t.Errorf("undo compose_down calls = %q", s.downs)
	}
	r.fails(t, `compose_up("p", {"version": "3", "services": {}}, ".")`, `compose_up p: spec has a top-level "version" key`)
	r.fails(t, `compose_up("p", {"name": "p"}, ".")`, `top-level "name" key`)
	r.fails(t, `compose_up("p", {"services": {"a": {"labels": 3}}}, ".")`, `compose_up p: service "a": labels is a int`)
	r.fails(t, `compose_up("p", "services: {}", ".")`, `compose_up: for parameter spec: got string, want dict`)
}

func TestComposeDownLogs(t *testing.T) {
	r := newRun(t)
	s := spy(r)
	r.eval(t, `compose_down("bottle-x", "st", logs="st/compose.log")`)
	if s.downs[0] != "bottle-x "+r.path("st")+" "+r.path("st/compose.log") {
		t.Errorf("compose_down = %q", s.downs)
	}
}

func TestExecCheck(t *testing.T) {
	r := newRun(t)
	s := spy(r)
	s.exec = engine.ExecResult{Code: 3, Stdout: "out", Stderr: "boom\n"}
	r.fails(t, `exec("agent", ["false", "x"])`, `exec: agent "false x" exited with code 3: boom`, "check=False")
	v := r.eval(t, `x = exec("agent", "echo hi; exit 3", check=False)`)
	if v.String() != `struct(code = 3, stderr = "boom\n", stdout = "out")` {
		t.Errorf("got %s", v)
	}
	if !strings.Contains(r.stderr.String(), "dry-run: exec in agent: sh -c 'echo hi; exit 3'") {
		t.Errorf("string cmd not run with sh -c: %q", r.stderr.String())
	}
	r.fails(t, `exec("agent", [])`, "exec: for parameter cmd: empty command")
	r.fails(t, `exec("agent", [1])`, "exec: for parameter cmd: element 0 is int, want string")
}

func TestContainerBuiltinsAgainstRecorder(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `
i = inspect("bottle-x-agent-1")
t = sighup("bottle-x-egress-1")
x = [i.running, i.status, i.name, t, signal("c", "term"), restart("c", timeout=2.5),
     copy_from("c", "/etc/hosts"), wait_log("c", "loaded \\d+ route", since=t, timeout=1),
     containers(labels={"dev.bottle.instance": "x"}), networks(), container_remove("c"),
     image_build("t:1", "img"), bottle_image()]
`)
	want := `[True, "running", "bottle-x-agent-1", "2026-11-26T12:00:00Z", "2026-11-26T12:00:00Z", "2026-11-26T12:00:00Z", "", "dry-run: a log line of c matching \"loaded \\\\d+ route\"", [], [], True, "sha256:dry-run-t:1", "bottle:local"]`
	if v.String() != want {
		t.Errorf("got  %s\nwant %s", v, want)
	}
	for _, line := range []string{"dry-run: send SIGTERM to c", "dry-run: restart c (stop timeout 2.5s)",
		"dry-run: build image t:1 from " + r.path("img") + " (Dockerfile)"} {
		if !strings.Contains(r.stderr.String(), line) {
			t.Errorf("recorder output lacks %q", line)
		}
	}
	r.fails(t, `wait_log("c", "(")`, "wait_log: bad pattern")
	r.fails(t, `wait_log("c", "x", since="yesterday")`, `wait_log: since "yesterday" is not an RFC 3339 time`)
	r.fails(t, `restart("c", timeout=-1)`, "restart: for parameter \"timeout\": -1 seconds is out of range")
}
