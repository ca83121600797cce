package docker

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/engine"
)

// Two services on an internal network of the spec and a bridge network made
// by NetworkCreate (external to compose): labels present, down writes the
// timestamped logs of both, and nothing with the label remains afterwards.
func TestComposeUpDown(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	project := testRun + "-proj"
	ext := project + "-ext"
	if _, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: ext, Labels: testLabels()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.NetworkRemove(ctx, ext) })
	dir := t.TempDir()
	spec := `services:
  agent:
    image: ` + testImage + `
    command: ["serve", "--name", "agent"]
    labels: {` + engine.InstanceLabel + `: ` + testRun + `}
    networks: [inner]
  egress:
    image: ` + testImage + `
    command: ["serve", "--name", "egress"]
    labels: {` + engine.InstanceLabel + `: ` + testRun + `}
    networks: [inner, outer]
networks:
  inner:
    internal: true
    labels: {` + engine.InstanceLabel + `: ` + testRun + `}
  outer:
    external: true
    name: ` + ext + `
`
	res, err := e.ComposeUp(ctx, engine.ComposeProject{Project: project, Dir: dir, YAML: []byte(spec)})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "docker-compose.yml")
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 || res.File != file {
		t.Errorf("spec file %s: %v, %v", res.File, fi.Mode(), err)
	}
	if len(res.Containers) != 2 || res.Containers["agent"] == "" || res.Containers["egress"] == "" {
		t.Fatalf("containers = %v", res.Containers)
	}
	for svc, name := range res.Containers {
		c, err := e.Inspect(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Labels[engine.ComposeProjectLabel] != project || c.Labels[engine.ComposeServiceLabel] != svc || c.Labels[engine.InstanceLabel] != testRun {
			t.Errorf("%s labels: %v", name, c.Labels)
		}
		if _, ok := c.Networks[ext]; ok != (svc == "egress") {
			t.Errorf("%s networks: %v", name, c.Networks)
		}
		// Since res.Started, not since the epoch: the line each service
		// printed as it started, during `up`, is at or after it.
		if res.Started.After(c.StartedAt) {
			t.Errorf("%s started at %v, before compose_up's started %v", name, c.StartedAt, res.Started)
		}
		if _, err := e.WaitLog(ctx, name, regexp.MustCompile(`ready`), res.Started, 5*time.Second); err != nil {
			t.Fatalf("wait_log since compose_up's started: %v", err)
		}
	}
	if nets, _ := e.Networks(ctx, map[string]string{engine.ComposeProjectLabel: project}); len(nets) != 1 || !nets[0].Internal {
		t.Errorf("project networks: %+v", nets)
	}

	logs := filepath.Join(dir, "compose.log")
	earlier := "=== an earlier run's section ===\nagent | its lines\n"
	if err := os.WriteFile(logs, []byte(earlier), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.ComposeDown(ctx, project, dir, logs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(logs)
	if err != nil {
		t.Fatal(err)
	}
	// Appended after what an earlier run saved, under a header naming the run.
	header := regexp.MustCompile(`^=== \d{4}-\d\d-\d\dT[0-9:.]+Z compose_down ` + project + `: logs of 2 container\(s\), created \d{4}-\d\d-\d\dT[0-9:]+Z ===\n`)
	if !strings.HasPrefix(string(b), earlier) || !header.Match(b[len(earlier):]) {
		t.Errorf("compose.log does not keep the earlier section and then add a header:\n%s", b)
	}
	for _, svc := range []string{"agent", "egress"} {
		re := regexp.MustCompile(`(?m)^` + svc + ` +\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z reader ` + svc + `: ready$`)
		if !re.Match(b) {
			t.Errorf("compose.log has no timestamped line of %s:\n%s", svc, b)
		}
	}
	for _, sel := range []map[string]string{{engine.ComposeProjectLabel: project}, testLabels()} {
		if c, _ := e.Containers(ctx, sel); len(c) != 0 {
			t.Errorf("containers left with %v: %+v", sel, c)
		}
	}
	if n, _ := e.Networks(ctx, map[string]string{engine.ComposeProjectLabel: project}); len(n) != 0 {
		t.Errorf("networks left: %+v", n)
	}
	// Already gone is success.
	if err := e.ComposeDown(ctx, project, dir, logs); err != nil {
		t.Errorf("second down: %v", err)
	}
	if ok, err := e.NetworkRemove(ctx, ext); !ok || err != nil {
		t.Errorf("remove %s: %v %v", ext, ok, err)
	}
}

// A spec compose rejects comes back as an error quoting compose.
func TestComposeRejectsSpec(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	project := testRun + "-bad"
	spec := "services:\n  x:\n    image: " + testImage + "\n    bogus_key: 1\n"
	_, err := e.ComposeUp(ctx, engine.ComposeProject{Project: project, Dir: t.TempDir(), YAML: []byte(spec)})
	if err == nil || !strings.Contains(err.Error(), "compose_up "+project) || !strings.Contains(err.Error(), "bogus_key") {
		t.Errorf("err = %v", err)
	}
	t.Logf("compose's rejection: %v", err)
	// An unknown image: compose fails to pull (no registry) and says so.
	spec = "services:\n  x:\n    image: bt-test-no-such-image:1\n    pull_policy: never\n"
	_, err = e.ComposeUp(ctx, engine.ComposeProject{Project: project, Dir: t.TempDir(), YAML: []byte(spec)})
	if err == nil || !strings.Contains(err.Error(), "bt-test-no-such-image") {
		t.Errorf("unknown image: err = %v", err)
	}
	t.Cleanup(func() { e.ComposeDown(ctx, project, t.TempDir(), "") })
}

// With its spec file gone compose cannot run `down`; the project's
// containers and networks are removed through the API by label instead.
func TestComposeDownWithoutSpec(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	project := testRun + "-nospec"
	dir := t.TempDir()
	spec := "services:\n  solo:\n    image: " + testImage + "\n    command: [serve, --name, solo]\n"
	res, err := e.ComposeUp(ctx, engine.ComposeProject{Project: project, Dir: dir, YAML: []byte(spec)})
	if err != nil {
		t.Fatal(err)
	}
	// Its first line is written: down must keep it (up returns when the
	// container has started, which may be before its program has printed).
	if _, err := e.WaitLog(ctx, res.Containers["solo"], regexp.MustCompile(`ready`), res.Started, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "docker-compose.yml")); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "compose.log")
	if err := e.ComposeDown(ctx, project, dir, logs); err != nil {
		t.Fatal(err)
	}
	sel := map[string]string{engine.ComposeProjectLabel: project}
	if c, _ := e.Containers(ctx, sel); len(c) != 0 {
		t.Errorf("containers left: %+v", c)
	}
	if n, _ := e.Networks(ctx, sel); len(n) != 0 {
		t.Errorf("networks left: %+v", n)
	}
	if b, _ := os.ReadFile(logs); !strings.Contains(string(b), "solo | ") {
		t.Errorf("logs: %q", b)
	}
}

// Down stops a service only after the services that depend on it, removes an
// orphan (a container of the project whose service left the spec) without
// stopping it first, and leaves nothing with the project label.
func TestComposeDownOrder(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	project := testRun + "-order"
	dir := t.TempDir()
	svc := func(name, extra string) string {
		return "  " + name + ":\n    image: " + testImage + "\n    command: [serve, --name, " + name + "]\n" + extra
	}
	spec := "services:\n" + svc("agent", "    depends_on: [egress]\n") +
		svc("egress", "    stop_grace_period: 5s\n") + svc("extra", "")
	if _, err := e.ComposeUp(ctx, engine.ComposeProject{Project: project, Dir: dir, YAML: []byte(spec)}); err != nil {
		t.Fatal(err)
	}
	// The spec loses "extra": its container is now an orphan.
	spec = "services:\n" + svc("agent", "    depends_on:\n      egress: {condition: service_started}\n") +
		svc("egress", "    stop_grace_period: 5s\n")
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	var stopped []string
	e.onStopped = func(name string) { stopped = append(stopped, name) } // down's goroutines stop one service at a time here
	defer func() { e.onStopped = nil }()
	if err := e.ComposeDown(ctx, project, dir, ""); err != nil {
		t.Fatal(err)
	}
	if len(stopped) != 2 || !strings.Contains(stopped[0], "agent") || !strings.Contains(stopped[1], "egress") {
		t.Errorf("stopped %v, want the agent, then the egress it depends on (and not the orphan)", stopped)
	}
	sel := map[string]string{engine.ComposeProjectLabel: project}
	if c, _ := e.Containers(ctx, sel); len(c) != 0 {
		t.Errorf("containers left: %+v", c)
	}
	if n, _ := e.Networks(ctx, sel); len(n) != 0 {
		t.Errorf("networks left (the project's default network among them): %+v", n)
	}
}

func TestReadDownSpec(t *testing.T) {
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	spec := `services:
  a: {image: x, depends_on: [b, c]}
  b: {image: x, depends_on: {c: {condition: service_healthy}}, stop_grace_period: 1m30s}
  c: {image: x, stop_grace_period: 1.5s}
  d: {image: x, stop_grace_period: 3}
`
	if err := os.WriteFile(file, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	s := readDownSpec(file)
	if s == nil {
		t.Fatal("nil spec")
	}
	want := map[string]int{"b": 90, "c": 2, "d": 3}
	if fmt.Sprint(s.grace) != fmt.Sprint(want) {
		t.Errorf("grace = %v, want %v", s.grace, want)
	}
	for svc, deps := range map[string][]string{"a": nil, "b": {"a"}, "c": {"a", "b"}, "d": nil} {
		got, ok := s.dependents[svc]
		slices.Sort(got)
		if !ok || !slices.Equal(got, deps) {
			t.Errorf("dependents[%s] = %v (%v), want %v", svc, got, ok, deps)
		}
	}
	if readDownSpec(filepath.Join(t.TempDir(), "missing.yml")) != nil {
		t.Error("a missing file gives a spec")
	}
}
