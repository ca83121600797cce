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
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sh/bottle/engine"
)

// composeProbe is one detection of the compose command, run in the
// background from New so that the ~0.5 s a Python docker-compose takes to say
// its version overlaps the recipe's first steps instead of delaying compose_up.
type composeProbe struct {
	done chan struct{}
	cmd  []string
	err  error
}

// startProbe begins detecting compose; the caller holds composeMu.
func (e *Engine) startProbe() *composeProbe {
	p := &composeProbe{done: make(chan struct{})}
	e.probe = p
	go func() {
		defer close(p.done)
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
	e.composeMu.Lock()
	p := e.probe
	if p == nil {
		p = e.startProbe()
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
	}
	return p.cmd, p.err
}

// cachedDetectCompose is detectCompose behind a small file cache in the user's
// cache directory, keyed by PATH and the size and mtime of every place a
// compose binary or plugin can be: a docker-compose v1 spends ~0.5 s starting
// Python to print its version, which would otherwise be paid on every run.
func cachedDetectCompose(ctx context.Context) ([]string, error) {
	key := composeCacheKey()
	file := ""
	if dir, err := os.UserCacheDir(); err == nil {
		file = filepath.Join(dir, "bottle", "compose-detect.json")
		var c struct {
			Key string
			Cmd []string
		}
		if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &c) == nil && c.Key == key && len(c.Cmd) > 0 {
			return c.Cmd, nil
		}
	}
	cmd, err := detectCompose(ctx)
	if err == nil && file != "" {
		b, _ := json.Marshal(map[string]any{"Key": key, "Cmd": cmd})
		if os.MkdirAll(filepath.Dir(file), 0o700) == nil {
			_ = os.WriteFile(file, b, 0o600)
		}
	}
	return cmd, err
}

func composeCacheKey() string {
	var b strings.Builder
	b.WriteString(os.Getenv("PATH") + "\n" + os.Getenv("DOCKER_CONFIG") + "\n")
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

func detectCompose(ctx context.Context) ([]string, error) {
	var tried []string
	for _, cand := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
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
	return nil, fmt.Errorf("compose: neither the v2 plugin nor v1 works (%s); install one: "+
		"the v2 plugin (`apt-get install docker-compose-plugin`, or https://docs.docker.com/compose/install/) "+
		"or v1 (`apt-get install docker-compose`)", strings.Join(tried, "; "))
}

// ComposeUp writes p.YAML to p.File (0600), runs `up -d` and returns the
// project's containers by the compose labels.
func (e *Engine) ComposeUp(ctx context.Context, p engine.ComposeProject) (engine.ComposeResult, error) {
	const step = "compose_up"
	file := p.File
	if file == "" {
		file = filepath.Join(p.Dir, "docker-compose.yml")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return engine.ComposeResult{}, fmt.Errorf("%s %s: %v", step, p.Project, err)
	}
	if err := os.WriteFile(file, p.YAML, 0o600); err != nil {
		return engine.ComposeResult{}, fmt.Errorf("%s %s: write spec: %v", step, p.Project, err)
	}
	if err := os.Chmod(file, 0o600); err != nil { // WriteFile keeps an existing file's mode
		return engine.ComposeResult{}, fmt.Errorf("%s %s: %v", step, p.Project, err)
	}
	if _, err := e.runCompose(ctx, step, p.Project, p.Dir, file, "up", "-d"); err != nil {
		return engine.ComposeResult{}, err
	}
	ctrs, err := e.Containers(ctx, map[string]string{engine.ComposeProjectLabel: p.Project})
	if err != nil {
		return engine.ComposeResult{}, fmt.Errorf("%s %s: %w", step, p.Project, err)
	}
	res := engine.ComposeResult{Project: p.Project, File: file, Containers: map[string]string{}}
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
// has containers), then runs `down --remove-orphans`. A project with no
// containers and no networks left is already down: success, no compose run.
// When compose cannot run (its file is gone, say), the project's containers
// and networks are removed through the API by label instead.
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
		if err := os.WriteFile(logs, []byte(text), 0o600); err != nil {
			return fmt.Errorf("%s %s: write logs: %v", step, project, err)
		}
	}
	file := filepath.Join(dir, "docker-compose.yml")
	var composeErr error
	if _, err := os.Stat(file); err != nil {
		composeErr = fmt.Errorf("%s %s: spec %s: %v", step, project, file, err)
	} else {
		_, composeErr = e.runCompose(ctx, step, project, dir, file, "down", "--remove-orphans")
		if composeErr == nil {
			return nil
		}
	}
	if ctx.Err() != nil {
		return composeErr
	}
	// Compose could not do it: remove by label what it would have.
	var errs []error
	for _, c := range ctrs {
		if _, err := e.ContainerRemove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range nets {
		if _, err := e.NetworkRemove(ctx, n.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; removing by label also failed: %w", composeErr, errors.Join(errs...))
	}
	return nil
}

// runCompose runs compose with -p and -f in dir. Compose runs in its own
// process group, so a terminal's ^C reaches bottle only and bottle decides:
// a cancelled ctx sends compose SIGINT, then SIGKILL 5 s later.
func (e *Engine) runCompose(ctx context.Context, step, project, dir, file string, args ...string) ([]byte, error) {
	base, err := e.Compose(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", step, project, err)
	}
	argv := append(append(base[1:len(base):len(base)], "-p", project, "-f", file), args...)
	cmd := exec.CommandContext(ctx, base[0], argv...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
			return nil, fmt.Errorf("%s %s: %s %s: %w", step, project, strings.Join(base, " "), strings.Join(args, " "), ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("%s %s: `%s %s` failed (%v): %s", step, project,
			strings.Join(base, " "), strings.Join(args, " "), err, lastLines(msg, 15))
	}
	return stdout.Bytes(), nil
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
