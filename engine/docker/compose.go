package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"go.yaml.in/yaml/v3"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/internal/appendlog"
)

// composeProbe is one detection of the compose command. New starts one that
// only reads the on-disk answer (cheap, and it overlaps the recipe's first
// steps); when that answer is missing or stale, the first Compose call runs
// the real detection, so a run that never uses compose (a routes_apply)
// never starts a compose process only to be killed when it exits.
type composeProbe struct {
	done chan struct{}
	cmd  []string
	err  error
}

// startProbe begins detecting compose, from the cache alone when cacheOnly;
// the caller holds composeMu.
func (e *Engine) startProbe(cacheOnly bool) *composeProbe {
	p := &composeProbe{done: make(chan struct{})}
	e.probe = p
	go func() {
		defer close(p.done)
		if cacheOnly {
			p.cmd, p.err = readComposeCache()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p.cmd, p.err = cachedDetectCompose(ctx)
	}()
	return p
}

// Compose returns the compose command this engine runs: ["docker", "compose"]
// (the v2 plugin) when `docker compose version` works, else ["docker-compose"]
// (v1) when `docker-compose version` does. The answer is kept; a failed
// detection is tried again on the next call.
func (e *Engine) Compose(ctx context.Context) ([]string, error) {
	for {
		e.composeMu.Lock()
		p := e.probe
		if p == nil {
			p = e.startProbe(false)
		}
		e.composeMu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("compose: detect: %w", ctx.Err())
		}
		if p.err != nil {
			e.composeMu.Lock()
			if e.probe == p {
				e.probe = nil
			}
			e.composeMu.Unlock()
			if errors.Is(p.err, errComposeNotCached) {
				continue // detect for real
			}
		}
		return p.cmd, p.err
	}
}

// errComposeNotCached is the cache-only probe's answer when the cache has
// none for this host's compose.
var errComposeNotCached = errors.New("compose: no cached detection")

// composeCacheFile is where the answer is kept, "" without a cache directory.
func composeCacheFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "bottle", "compose-detect.json")
}

// readComposeCache returns the cached detection if its key still matches.
func readComposeCache() ([]string, error) {
	var c struct {
		Key string
		Cmd []string
	}
	if file := composeCacheFile(); file != "" {
		if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &c) == nil && len(c.Cmd) > 0 && c.Key == composeCacheKey() {
			return c.Cmd, nil
		}
	}
	return nil, errComposeNotCached
}

// cachedDetectCompose is detectCompose behind a small file cache in the user's
// cache directory, keyed by the path, size and mtime of the docker and
// docker-compose that PATH resolves to and of every place a compose plugin
// can be: a docker-compose v1 spends ~0.5 s starting Python to print its
// version, which would otherwise be paid on every run. (Not by PATH itself:
// `go test` prepends GOROOT/bin, and runs under it and outside it would
// evict each other's answer.)
func cachedDetectCompose(ctx context.Context) ([]string, error) {
	if cmd, err := readComposeCache(); err == nil {
		return cmd, nil
	}
	cmd, err := detectCompose(ctx)
	if file := composeCacheFile(); err == nil && file != "" {
		b, _ := json.Marshal(map[string]any{"Key": composeCacheKey(), "Cmd": cmd})
		if os.MkdirAll(filepath.Dir(file), 0o700) == nil {
			_ = os.WriteFile(file, b, 0o600)
		}
	}
	return cmd, err
}

func composeCacheKey() string {
	var b strings.Builder
	b.WriteString(os.Getenv("DOCKER_CONFIG") + "\n" + os.Getenv(composeEnv) + "\n")
	cfg := os.Getenv("DOCKER_CONFIG")
	if cfg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cfg = filepath.Join(home, ".docker")
		}
	}
	places := []string{filepath.Join(cfg, "cli-plugins", "docker-compose"),
		"/usr/local/lib/docker/cli-plugins/docker-compose", "/usr/local/libexec/docker/cli-plugins/docker-compose",
		"/usr/lib/docker/cli-plugins/docker-compose", "/usr/libexec/docker/cli-plugins/docker-compose"}
	for _, bin := range []string{"docker", "docker-compose"} {
		if p, err := exec.LookPath(bin); err == nil {
			places = append(places, p)
		}
	}
	for _, p := range places {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// composeEnv names the variable that picks a compose over the automatic
// choice (the v2 plugin, else v1): "v2" or "v1".
const composeEnv = "BOTTLE_COMPOSE"

func detectCompose(ctx context.Context) ([]string, error) {
	cands := [][]string{{"docker", "compose"}, {"docker-compose"}}
	switch want := os.Getenv(composeEnv); want {
	case "":
	case "v2":
		cands = cands[:1]
	case "v1":
		cands = cands[1:]
	default:
		return nil, fmt.Errorf("compose: %s=%q: want v2 (the docker compose plugin), v1 (docker-compose), or unset to let bottle pick", composeEnv, want)
	}
	var tried []string
	for _, cand := range cands {
		if _, err := exec.LookPath(cand[0]); err != nil {
			tried = append(tried, fmt.Sprintf("`%s`: %s not on PATH", strings.Join(cand, " "), cand[0]))
			continue
		}
		out, err := exec.CommandContext(ctx, cand[0], append(cand[1:], "version")...).CombinedOutput()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("compose: detect: `%s version`: %w", strings.Join(cand, " "), ctx.Err())
		}
		if err == nil {
			return cand, nil
		}
		tried = append(tried, fmt.Sprintf("`%s version`: %v %s", strings.Join(cand, " "), err, firstLine(out)))
	}
	const v2, v1 = "the v2 plugin (`apt-get install docker-compose-plugin`, or https://docs.docker.com/compose/install/)",
		"v1 (`apt-get install docker-compose`)"
	switch os.Getenv(composeEnv) {
	case "v2":
		return nil, fmt.Errorf("compose: %s=v2, and it does not work (%s); install %s, or unset %s to let bottle pick", composeEnv, strings.Join(tried, "; "), v2, composeEnv)
	case "v1":
		return nil, fmt.Errorf("compose: %s=v1, and it does not work (%s); install %s, or unset %s to let bottle pick", composeEnv, strings.Join(tried, "; "), v1, composeEnv)
	}
	return nil, fmt.Errorf("compose: neither the v2 plugin nor v1 works (%s); install one: %s or %s", strings.Join(tried, "; "), v2, v1)
}

// ComposeUp writes p.YAML to p.File (0600), runs `up -d` and returns the
// project's containers by the compose labels.
// writeSpec writes the compose file 0600, never through a symlink: one
// planted in a state dir must not make bottle (often root) write elsewhere.
func writeSpec(file string, data []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("%s is a symlink, which bottle does not write through; remove it", file)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600) // an existing file keeps its mode otherwise
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *Engine) ComposeUp(ctx context.Context, p engine.ComposeProject) (engine.ComposeResult, error) {
	const step = "compose_up"
	file := p.File
	if file == "" {
		file = filepath.Join(p.Dir, engine.ComposeFile)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return engine.ComposeResult{}, fmt.Errorf("%s %s: %v", step, p.Project, err)
	}
	if err := writeSpec(file, p.YAML); err != nil {
		return engine.ComposeResult{}, fmt.Errorf("%s %s: write spec: %v", step, p.Project, err)
	}
	started := e.daemonNow(ctx)
	if err := e.runCompose(ctx, step, p.Project, p.Dir, file, "up", "-d"); err != nil {
		if missing := e.missingImages(ctx, p.YAML); missing != "" {
			err = fmt.Errorf("%s %s: image(s) not on this daemon, and compose could not pull them: %s; build or load them, or fix the spec; %s", step, p.Project, missing,
				strings.TrimPrefix(err.Error(), step+" "+p.Project+": "))
		}
		return engine.ComposeResult{}, err
	}
	ctrs, err := e.Containers(ctx, map[string]string{engine.ComposeProjectLabel: p.Project})
	if err != nil {
		return engine.ComposeResult{}, fmt.Errorf("%s %s: %w", step, p.Project, err)
	}
	res := engine.ComposeResult{Project: p.Project, File: file, Started: started, Containers: map[string]string{}}
	for _, c := range ctrs {
		if svc := c.Labels[engine.ComposeServiceLabel]; svc != "" {
			if _, dup := res.Containers[svc]; !dup || c.Labels["com.docker.compose.container-number"] == "1" {
				res.Containers[svc] = c.Name
			}
		}
	}
	return res, nil
}

// ComposeDown writes the project's logs to logs (when not "" and the project
// has containers), then does through the API what `down --remove-orphans`
// does, without starting a compose process (v1 spends ~0.5 s starting
// Python): see down. A project with no containers and no networks left is
// already down: success.
func (e *Engine) ComposeDown(ctx context.Context, project, dir, logs string) error {
	const step = "compose_down"
	sel := map[string]string{engine.ComposeProjectLabel: project}
	ctrs, err := e.Containers(ctx, sel)
	if err != nil {
		return fmt.Errorf("%s %s: %w", step, project, err)
	}
	nets, err := e.Networks(ctx, sel)
	if err != nil {
		return fmt.Errorf("%s %s: %w", step, project, err)
	}
	if len(ctrs) == 0 && len(nets) == 0 {
		return nil
	}
	if logs != "" && len(ctrs) > 0 {
		text, err := e.projectLogs(ctx, ctrs)
		if err != nil {
			return fmt.Errorf("%s %s: %v", step, project, err)
		}
		if _, err := appendlog.Append(logs, []byte(logHeader(project, ctrs)+text), 0o600); err != nil {
			return fmt.Errorf("%s %s: save logs (nothing was stopped): %v", step, project, err)
		}
	}
	spec := readDownSpec(filepath.Join(dir, engine.ComposeFile))
	if err := e.down(ctx, ctrs, nets, spec); err != nil {
		return fmt.Errorf("%s %s: %w", step, project, err)
	}
	return nil
}

// logHeader opens one stop's section of a log file that keeps every run:
// when it was written, the project, and when its first container was
// created (which run the lines below belong to).
func logHeader(project string, ctrs []engine.Container) string {
	var created time.Time
	for _, c := range ctrs {
		if !c.Created.IsZero() && (created.IsZero() || c.Created.Before(created)) {
			created = c.Created
		}
	}
	run := "created " + created.UTC().Format(time.RFC3339)
	return fmt.Sprintf("=== %s compose_down %s: logs of %d container(s), %s ===\n",
		time.Now().UTC().Format(time.RFC3339Nano), project, len(ctrs), run)
}

// composeFile is what bottle reads back from a compose file it wrote: the
// one typed view of it, for ComposeDown's stop order and grace periods and
// ComposeUp's missing-image message.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image           string    `yaml:"image"`
	Build           yaml.Node `yaml:"build"`             // present or not
	StopGracePeriod any       `yaml:"stop_grace_period"` // "10s", "1m30s" or seconds
	DependsOn       yaml.Node `yaml:"depends_on"`        // a list, or a mapping of conditions
}

func parseComposeFile(b []byte) (composeFile, error) {
	var doc composeFile
	err := yaml.Unmarshal(b, &doc)
	return doc, err
}

// downSpec is what `down` takes from the compose file: each service's
// stop_grace_period and the services that depend on it. A nil downSpec (no
// readable file) makes every container a service with no dependents and the
// container's own stop timeout.
type downSpec struct {
	grace      map[string]int      // service -> stop timeout in seconds
	dependents map[string][]string // service -> services whose depends_on names it
}

func readDownSpec(file string) *downSpec {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	doc, err := parseComposeFile(b)
	if err != nil {
		return nil
	}
	s := &downSpec{grace: map[string]int{}, dependents: map[string][]string{}}
	for name, svc := range doc.Services {
		if secs, ok := graceSeconds(svc.StopGracePeriod); ok {
			s.grace[name] = secs
		}
		if _, ok := s.dependents[name]; !ok {
			s.dependents[name] = nil // a service of the spec, so not an orphan
		}
		var deps []string
		switch svc.DependsOn.Kind {
		case yaml.SequenceNode: // depends_on: [a, b]
			_ = svc.DependsOn.Decode(&deps)
		case yaml.MappingNode: // depends_on: {a: {condition: ...}}
			for i := 0; i+1 < len(svc.DependsOn.Content); i += 2 {
				deps = append(deps, svc.DependsOn.Content[i].Value)
			}
		}
		for _, d := range deps {
			s.dependents[d] = append(s.dependents[d], name)
		}
	}
	return s
}

// graceSeconds reads a stop_grace_period ("10s", "1m30s", "1.5s", or a
// number of seconds) as whole seconds, rounded up.
func graceSeconds(v any) (int, bool) {
	var d time.Duration
	switch v := v.(type) {
	case int:
		d = time.Duration(v) * time.Second
	case float64:
		d = time.Duration(v * float64(time.Second))
	case string:
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return int((max(d, 0) + time.Second - 1) / time.Second), true
}

// down removes the project's containers and networks the way `down
// --remove-orphans` does: each container of a service in the spec is stopped
// (its stop_grace_period, else the container's stop timeout) once the
// containers of the services that depend on it have stopped, all others at
// once, and removed (anonymous volumes kept, as without -v); orphans (no
// such service in the spec) are force-removed, as compose kills them; then
// the networks carrying the project label (the ones compose made; external
// ones do not carry it) are removed. Every step is tried; every failure is
// reported.
func (e *Engine) down(ctx context.Context, ctrs []engine.Container, nets []engine.Network, spec *downSpec) error {
	bySvc := map[string][]engine.Container{}
	for _, c := range ctrs {
		bySvc[c.Labels[engine.ComposeServiceLabel]] = append(bySvc[c.Labels[engine.ComposeServiceLabel]], c)
	}
	stopped := map[string]chan struct{}{} // closed when every container of the service has stopped
	for svc := range bySvc {
		stopped[svc] = make(chan struct{})
	}
	var mu sync.Mutex
	var errs []error
	report := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for svc, list := range bySvc {
		var waitFor []chan struct{}
		orphan := false
		var timeout *int
		if spec != nil {
			_, known := spec.dependents[svc]
			orphan = !known
			for _, d := range spec.dependents[svc] {
				if ch, ok := stopped[d]; ok {
					waitFor = append(waitFor, ch)
				}
			}
			if secs, ok := spec.grace[svc]; ok {
				timeout = &secs
			}
		}
		var svcWG sync.WaitGroup
		for _, c := range list {
			wg.Add(1)
			svcWG.Add(1)
			go func() {
				defer wg.Done()
				stoppedOK := true
				if !orphan {
					for _, ch := range waitFor {
						select {
						case <-ch:
						case <-ctx.Done():
						}
					}
					if _, err := e.api.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: timeout}); err != nil && !isNotFound(err) {
						report(fail("stop", c.Name, err))
						stoppedOK = false
					} else if e.onStopped != nil {
						e.onStopped(c.Name)
					}
				}
				svcWG.Done()
				if !stoppedOK {
					return
				}
				_, err := e.api.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: orphan})
				if err != nil && !isNotFound(err) {
					report(fail("remove", c.Name, err))
				}
			}()
		}
		go func() { svcWG.Wait(); close(stopped[svc]) }()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, n := range nets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.NetworkRemove(ctx, n.ID); err != nil {
				report(fmt.Errorf("network %s: %w", n.Name, err))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runCompose runs compose with -p and -f in dir. Compose runs in its own
// process group, so a terminal's ^C reaches bottle only and bottle decides:
// a cancelled ctx sends compose SIGINT, then SIGKILL 5 s later; if bottle
// dies, the kernel kills compose (Linux: childAttrs). Its output
// is kept only for the error.
func (e *Engine) runCompose(ctx context.Context, step, project, dir, file string, args ...string) error {
	base, err := e.Compose(ctx)
	if err != nil {
		return fmt.Errorf("%s %s: %w", step, project, err)
	}
	argv := append(append(base[1:len(base):len(base)], "-p", project, "-f", file), args...)
	cmd := exec.CommandContext(ctx, base[0], argv...)
	cmd.Dir = dir
	cmd.Env = ComposeEnv(os.Environ(), e.at)
	cmd.SysProcAttr = childAttrs()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	if e.onCompose != nil {
		e.onCompose(args, time.Since(start))
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %s %s: %w", step, project, strings.Join(base, " "), strings.Join(args, " "), ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if strings.Contains(msg, "Install paramiko package to enable ssh:// support") {
			return fmt.Errorf("%s %s: `%s` (compose v1) reaches an ssh:// engine (%s) only with Python's paramiko: install it (apt-get install python3-paramiko), or the compose v2 plugin, which uses the docker CLI's ssh helper",
				step, project, strings.Join(base, " "), e.at.Host)
		}
		return fmt.Errorf("%s %s: `%s %s` failed (%v): %s", step, project,
			strings.Join(base, " "), strings.Join(args, " "), err, lastLines(msg, 15))
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// missingImages names the services of spec whose image (without a build
// section) this daemon does not have, as "service=image, ...": compose v2
// reports a failed pull as a registry error that never names the image.
func (e *Engine) missingImages(ctx context.Context, spec []byte) string {
	doc, err := parseComposeFile(spec)
	if err != nil {
		return ""
	}
	var missing []string
	for name, svc := range doc.Services {
		if svc.Image == "" || !svc.Build.IsZero() {
			continue
		}
		if _, err := e.api.ImageInspect(ctx, svc.Image); isNotFound(err) {
			missing = append(missing, name+"="+svc.Image)
		}
	}
	slices.Sort(missing)
	return strings.Join(missing, ", ")
}
