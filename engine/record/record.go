// Package record is the dry-run engine: a Recorder implements engine.Engine
// by printing one "dry-run: <what it would do>" line per call and returning
// plausible values, so a whole recipe runs to the end under --dry-run without
// touching a container engine.
//
// The values are chosen to let recipes go on: the Nth network (from 1) gets
// the Nth /28 of 10.213.0.0/16 (10.213.0.16/28, 10.213.0.32/28, ...) with
// its first address as the gateway, compose_up
// returns <project>-<service>-1 for every service in its YAML, inspect reports
// a running container, exec exits 0, wait_log returns a line, and there are
// no bind mounts, containers or networks to list; the daemon offers the
// runtimes runc (its default) and runsc.
package record

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bottle-sh/bottle/engine"
)

// Recorder is the dry-run engine. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	w        io.Writer
	networks int
	now      func() time.Time
}

var _ engine.Engine = (*Recorder)(nil)

// New returns a Recorder that prints to w.
func New(w io.Writer) *Recorder { return &Recorder{w: w, now: time.Now} }

// SetNow replaces the clock used for the times the Recorder returns (tests).
func (r *Recorder) SetNow(now func() time.Time) { r.now = now }

func (r *Recorder) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "dry-run: "+format+"\n", args...)
}

func labelList(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return " labels " + strings.Join(parts, ",")
}

// NetworkCreate implements engine.Engine.
func (r *Recorder) NetworkCreate(ctx context.Context, spec engine.NetworkSpec) (engine.Network, error) {
	if err := ctx.Err(); err != nil {
		return engine.Network{}, err
	}
	r.mu.Lock()
	r.networks++
	n := r.networks
	r.mu.Unlock()
	subnet, gateway := spec.Subnet, ""
	if subnet == "" {
		subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(n % 4096 >> 4), byte(n % 16 << 4)}), 28).String()
	}
	if p, err := netip.ParsePrefix(subnet); err == nil {
		gateway = p.Masked().Addr().Next().String()
	}
	kind := "network"
	if spec.Internal {
		kind = "internal network"
	}
	r.printf("create %s %s subnet %s%s", kind, spec.Name, subnet, labelList(spec.Labels))
	return engine.Network{Name: spec.Name, ID: fmt.Sprintf("dry-run-network-%d", n), Subnet: subnet,
		Gateway: gateway, Internal: spec.Internal, Labels: spec.Labels}, nil
}

// NetworkRemove implements engine.Engine.
func (r *Recorder) NetworkRemove(ctx context.Context, name string) (bool, error) {
	r.printf("remove network %s", name)
	return true, ctx.Err()
}

// Networks implements engine.Engine.
func (r *Recorder) Networks(ctx context.Context, labels map[string]string) ([]engine.Network, error) {
	r.printf("list networks%s", labelList(labels))
	return nil, ctx.Err()
}

// ComposeUp implements engine.Engine. It does not write p.File.
func (r *Recorder) ComposeUp(ctx context.Context, p engine.ComposeProject) (engine.ComposeResult, error) {
	if err := ctx.Err(); err != nil {
		return engine.ComposeResult{}, err
	}
	var spec struct {
		Services yaml.Node `yaml:"services"`
	}
	if err := yaml.Unmarshal(p.YAML, &spec); err != nil {
		return engine.ComposeResult{}, fmt.Errorf("compose_up %s: %v", p.Project, err)
	}
	containers := map[string]string{}
	var services []string
	if spec.Services.Kind == yaml.MappingNode {
		for i := 0; i < len(spec.Services.Content); i += 2 {
			s := spec.Services.Content[i].Value
			services = append(services, s)
			containers[s] = p.Project + "-" + s + "-1"
		}
	}
	r.printf("write %s (%d bytes, mode 0600)", p.File, len(p.YAML))
	r.printf("compose -p %s -f %s up -d (services: %s)", p.Project, p.File, strings.Join(services, ", "))
	return engine.ComposeResult{Project: p.Project, File: p.File, Containers: containers, Started: r.now()}, nil
}

// ComposeDown implements engine.Engine.
func (r *Recorder) ComposeDown(ctx context.Context, project, dir, logs string) error {
	if logs != "" {
		r.printf("compose -p %s logs --no-color --timestamps > %s", project, logs)
	}
	r.printf("compose -p %s down --remove-orphans (in %s)", project, dir)
	return ctx.Err()
}

// Signal implements engine.Engine.
func (r *Recorder) Signal(ctx context.Context, container, sig string) (time.Time, error) {
	if !strings.HasPrefix(sig, "SIG") {
		sig = "SIG" + sig
	}
	r.printf("send %s to %s", sig, container)
	return r.now(), ctx.Err()
}

// Restart implements engine.Engine.
func (r *Recorder) Restart(ctx context.Context, container string, timeout time.Duration) (time.Time, error) {
	r.printf("restart %s (stop timeout %s)", container, timeout)
	return r.now(), ctx.Err()
}

// Exec implements engine.Engine.
func (r *Recorder) Exec(ctx context.Context, container string, cmd []string) (engine.ExecResult, error) {
	r.printf("exec in %s: %s", container, quoteCmd(cmd))
	return engine.ExecResult{}, ctx.Err()
}

// ExecInteractive implements engine.Engine.
func (r *Recorder) ExecInteractive(ctx context.Context, container string, cmd []string, _ engine.ExecIO) (int, error) {
	r.printf("exec interactively in %s: %s", container, quoteCmd(cmd))
	return 0, ctx.Err()
}

func quoteCmd(cmd []string) string {
	parts := make([]string, len(cmd))
	for i, a := range cmd {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$\\|&;<>()*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

// CopyFrom implements engine.Engine; the content is empty.
func (r *Recorder) CopyFrom(ctx context.Context, container, path string) ([]byte, error) {
	r.printf("copy %s out of %s", path, container)
	return []byte{}, ctx.Err()
}

// Inspect implements engine.Engine; the container is always running.
func (r *Recorder) Inspect(ctx context.Context, container string) (engine.Container, error) {
	r.printf("inspect %s", container)
	now := r.now()
	return engine.Container{ID: "dry-run-" + container, Name: container, Image: "dry-run", Running: true,
		Status: "running", StartedAt: now, Created: now, Networks: map[string]string{}, Labels: map[string]string{}}, ctx.Err()
}

// Containers implements engine.Engine; there are none.
func (r *Recorder) Containers(ctx context.Context, labels map[string]string) ([]engine.Container, error) {
	r.printf("list containers%s", labelList(labels))
	return nil, ctx.Err()
}

// ContainerRemove implements engine.Engine.
func (r *Recorder) ContainerRemove(ctx context.Context, container string) (bool, error) {
	r.printf("remove container %s", container)
	return true, ctx.Err()
}

// WaitLog implements engine.Engine; it returns at once with a line naming the pattern.
func (r *Recorder) WaitLog(ctx context.Context, container string, re *regexp.Regexp, since time.Time, timeout time.Duration) (string, error) {
	r.printf("wait up to %s for a log line of %s matching %q", timeout, container, re.String())
	return fmt.Sprintf("dry-run: a log line of %s matching %q", container, re.String()), ctx.Err()
}

// ImageBuild implements engine.Engine.
func (r *Recorder) ImageBuild(ctx context.Context, tag, contextDir, dockerfile string) (string, error) {
	r.printf("build image %s from %s (%s)", tag, contextDir, dockerfile)
	return "sha256:dry-run-" + tag, ctx.Err()
}

// BottleImage implements engine.Engine.
func (r *Recorder) BottleImage(ctx context.Context, tag string) (string, error) {
	r.printf("make bottle image %s (FROM scratch, entrypoint /bottle)", tag)
	return tag, ctx.Err()
}

// AgentImage implements engine.Engine.
func (r *Recorder) AgentImage(ctx context.Context, tag string) (string, error) {
	r.printf("make agent image %s (FROM scratch: the host's busybox, /bottle, fetch)", tag)
	return tag, ctx.Err()
}

// BindMounts implements engine.Engine; there are none. It prints nothing:
// write_atomic asks it as a check, not a step.
func (r *Recorder) BindMounts(ctx context.Context) ([]engine.BindMount, error) {
	return nil, ctx.Err()
}

// Runtimes implements engine.Engine: runc (the default) and runsc, so that a
// manifest naming either runs to the end. It prints nothing: start asks it
// as a check, not a step.
func (r *Recorder) Runtimes(ctx context.Context) (engine.Runtimes, error) {
	return engine.Runtimes{Names: []string{"runc", "runsc"}, Default: "runc"}, ctx.Err()
}
