package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// Signal sends sig to the container's PID 1 and returns the time just before
// it was sent, in the daemon's clock (daemonNow), so that a wait_log since
// that time sees the reaction.
//
// A reload signal (HUP, USR1, USR2) goes straight to PID 1 when it is a
// process of this host that bottle may signal and that sits in the
// container's cgroup (see signalDirect): the daemon delivers every signal by
// starting `runc kill` (60-400 ms measured on Docker 20.10 under load, most
// of a routes_apply), and also marks the container as stopped by the user,
// which a reload is not. Other signals, and every container that check
// refuses, go through the daemon.
func (e *Engine) Signal(ctx context.Context, ctr, sig string) (time.Time, error) {
	if err := e.ready(ctx); err != nil {
		return time.Time{}, err
	}
	sig = strings.ToUpper(strings.TrimSpace(sig))
	if sig == "" {
		return time.Time{}, fmt.Errorf("signal %s: no signal given (want HUP, TERM, ...)", ctr)
	}
	if !strings.HasPrefix(sig, "SIG") && (sig[0] < '0' || sig[0] > '9') {
		sig = "SIG" + sig
	}
	if direct, ok := reloadSignals[sig]; ok && !e.signalViaAPI {
		res, err := e.api.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
		if err != nil {
			return time.Time{}, fail("signal "+sig, ctr, err)
		}
		if st := res.Container.State; st != nil && st.Running {
			at := time.Now()
			if signalDirect(res.Container.ID, st.Pid, direct) {
				return at, nil
			}
		}
	}
	at := e.daemonNow(ctx)
	if _, err := e.api.ContainerKill(ctx, ctr, client.ContainerKillOptions{Signal: sig}); err != nil {
		return time.Time{}, fail("signal "+sig, ctr, err)
	}
	return at, nil
}

// Restart restarts the container, waiting up to timeout for it to stop
// before it is killed; it returns when the container runs again, with the
// time just before the restart began, in the daemon's clock (daemonNow):
// a wait_log since that time sees every line the restarted container
// prints, however soon, and the ones it prints while it stops.
func (e *Engine) Restart(ctx context.Context, ctr string, timeout time.Duration) (time.Time, error) {
	if err := e.ready(ctx); err != nil {
		return time.Time{}, err
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	at := e.daemonNow(ctx)
	if _, err := e.api.ContainerRestart(ctx, ctr, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
		return time.Time{}, fail("restart", ctr, err)
	}
	return at, nil
}

// Exec runs cmd in the container, with no stdin and no TTY.
func (e *Engine) Exec(ctx context.Context, ctr string, cmd []string) (engine.ExecResult, error) {
	if err := e.ready(ctx); err != nil {
		return engine.ExecResult{}, err
	}
	step := "exec " + quoteCmd(cmd)
	if len(cmd) == 0 {
		return engine.ExecResult{}, fmt.Errorf("exec %s: empty command", ctr)
	}
	created, err := e.api.ExecCreate(ctx, ctr, client.ExecCreateOptions{
		Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return engine.ExecResult{}, fail(step+" in", ctr, err)
	}
	att, err := e.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return engine.ExecResult{}, fail(step+" in", ctr, err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		done <- err
	}()
	select {
	case <-ctx.Done():
		att.Close()
		return engine.ExecResult{}, fmt.Errorf("%s in %s: %w", step, ctr, ctx.Err())
	case err := <-done:
		if err != nil {
			return engine.ExecResult{}, fail(step+" in", ctr, fmt.Errorf("read output: %w", err))
		}
	}
	code, err := e.execExitCode(ctx, created.ID)
	if err != nil {
		return engine.ExecResult{}, fail(step+" in", ctr, err)
	}
	return engine.ExecResult{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}, nil
}

// ExecInteractive runs cmd in the container wired to io. The caller puts the
// terminal in raw mode; this copies bytes both ways, forwards resizes, and
// returns the command's exit code when it ends.
func (e *Engine) ExecInteractive(ctx context.Context, ctr string, cmd []string, eio engine.ExecIO) (int, error) {
	if err := e.ready(ctx); err != nil {
		return 0, err
	}
	step := "attach " + quoteCmd(cmd)
	if len(cmd) == 0 {
		return 0, fmt.Errorf("attach %s: empty command", ctr)
	}
	created, err := e.api.ExecCreate(ctx, ctr, client.ExecCreateOptions{
		Cmd: cmd, TTY: eio.TTY, Env: eio.Env, User: eio.User,
		AttachStdin: eio.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return 0, fail(step+" in", ctr, err)
	}
	att, err := e.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: eio.TTY})
	if err != nil {
		return 0, fail(step+" in", ctr, err)
	}
	defer att.Close()

	if eio.Resize != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case sz, ok := <-eio.Resize:
					if !ok {
						return
					}
					_, _ = e.api.ExecResize(ctx, created.ID, client.ExecResizeOptions{Height: sz[0], Width: sz[1]})
				}
			}
		}()
	}
	if eio.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, eio.Stdin)
			if !eio.TTY {
				// Without a TTY, end of input is EOF for the command. With one,
				// the daemon would end the whole session: ^D is a byte instead.
				_ = att.CloseWrite()
			}
		}()
	}
	stdout, stderr := eio.Stdout, eio.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if eio.TTY {
			_, err = io.Copy(stdout, att.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, att.Reader)
		}
		done <- err
	}()
	select {
	case <-ctx.Done():
		att.Close()
		return 0, fmt.Errorf("%s in %s: %w", step, ctr, ctx.Err())
	case err := <-done:
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fail(step+" in", ctr, err)
		}
	}
	code, err := e.execExitCode(ctx, created.ID)
	if err != nil {
		return 0, fail(step+" in", ctr, err)
	}
	return code, nil
}

// execExitCode waits for the exec to be reported finished: its output stream
// can end a moment before the daemon records the exit code.
func (e *Engine) execExitCode(ctx context.Context, id string) (int, error) {
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		ins, err := e.api.ExecInspect(ctx, id, client.ExecInspectOptions{})
		if err != nil {
			return 0, err
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// CopyFrom reads one regular file out of the container through the archive
// endpoint; a symlink is followed once.
func (e *Engine) CopyFrom(ctx context.Context, ctr, p string) ([]byte, error) {
	if err := e.ready(ctx); err != nil {
		return nil, err
	}
	step := "copy_from " + p + " in"
	for range 2 {
		res, err := e.api.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: p})
		if err != nil {
			return nil, fail(step, ctr, err)
		}
		data, link, err := readOneFile(res.Content)
		res.Content.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", step, ctr, err)
		}
		if link == "" {
			return data, nil
		}
		if !path.IsAbs(link) {
			link = path.Join(path.Dir(p), link)
		}
		p = link
	}
	return nil, fmt.Errorf("%s %s: too many symlinks", step, ctr)
}

// readOneFile returns the content of the first entry of a tar stream, or the
// target when it is a symlink.
func readOneFile(r io.Reader) (data []byte, link string, err error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return nil, "", fmt.Errorf("read archive: %w", err)
	}
	switch h.Typeflag {
	case tar.TypeReg:
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, "", fmt.Errorf("read archive: %w", err)
		}
		return data, "", nil
	case tar.TypeSymlink:
		return nil, h.Linkname, nil
	case tar.TypeDir:
		return nil, "", errors.New("is a directory, not a regular file")
	default:
		return nil, "", fmt.Errorf("is not a regular file (tar type %q)", h.Typeflag)
	}
}

// Inspect describes a container.
func (e *Engine) Inspect(ctx context.Context, ctr string) (engine.Container, error) {
	if err := e.ready(ctx); err != nil {
		return engine.Container{}, err
	}
	res, err := e.api.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
	if err != nil {
		return engine.Container{}, fail("inspect", ctr, err)
	}
	c := res.Container
	out := engine.Container{
		ID:       c.ID,
		Name:     strings.TrimPrefix(c.Name, "/"),
		Networks: map[string]string{},
		Labels:   map[string]string{},
	}
	if c.Config != nil {
		out.Image = c.Config.Image
		out.Labels = copyLabels(c.Config.Labels)
	}
	if c.State != nil {
		out.Running = c.State.Running
		out.Status = string(c.State.Status)
		out.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
	}
	out.Created, _ = time.Parse(time.RFC3339Nano, c.Created)
	out.Mounts = mountsOf(c.Mounts)
	if c.NetworkSettings != nil {
		addNetworkIPs(out.Networks, c.NetworkSettings.Networks)
	}
	return out, nil
}

// Containers lists containers, running or not, carrying all of labels,
// sorted by name.
func (e *Engine) Containers(ctx context.Context, labels map[string]string) ([]engine.Container, error) {
	if err := e.ready(ctx); err != nil {
		return nil, err
	}
	res, err := e.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, fail("containers", fmt.Sprint(labels), err)
	}
	out := make([]engine.Container, 0, len(res.Items))
	for _, s := range res.Items {
		out = append(out, summaryToContainer(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func summaryToContainer(s container.Summary) engine.Container {
	c := engine.Container{
		ID:       s.ID,
		Image:    s.Image,
		Running:  s.State == container.StateRunning,
		Status:   string(s.State),
		Created:  time.Unix(s.Created, 0),
		Labels:   copyLabels(s.Labels),
		Networks: map[string]string{},
	}
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	c.Mounts = mountsOf(s.Mounts)
	if s.NetworkSettings != nil {
		addNetworkIPs(c.Networks, s.NetworkSettings.Networks)
	}
	return c
}

// mountsOf converts the mounts of an inspect or a list answer.
func mountsOf(ms []container.MountPoint) []engine.Mount {
	var out []engine.Mount
	for _, m := range ms {
		out = append(out, engine.Mount{Type: string(m.Type), Source: m.Source, Destination: m.Destination, RW: m.RW})
	}
	return out
}

// addNetworkIPs adds each network's name and the container's IP on it ("" when
// it has none) to dst.
func addNetworkIPs(dst map[string]string, eps map[string]*network.EndpointSettings) {
	for name, ep := range eps {
		ip := ""
		if ep != nil && ep.IPAddress.IsValid() {
			ip = ep.IPAddress.String()
		}
		dst[name] = ip
	}
}

// ContainerRemove force-removes the container and its anonymous volumes.
func (e *Engine) ContainerRemove(ctx context.Context, ctr string) (bool, error) {
	if err := e.ready(ctx); err != nil {
		return false, err
	}
	_, err := e.api.ContainerRemove(ctx, ctr, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fail("container_remove", ctr, err)
	}
	return true, nil
}

// BindMounts lists the bind mounts of running containers. IsFile is decided
// by a stat of the host source, since the API does not say.
func (e *Engine) BindMounts(ctx context.Context) ([]engine.BindMount, error) {
	if e.noLocalDaemon {
		// No daemon socket on this host: no container here mounts anything.
		return nil, nil
	}
	if err := e.ready(ctx); err != nil {
		return nil, err
	}
	res, err := e.api.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return nil, fail("bind_mounts", "of running containers", err)
	}
	var out []engine.BindMount
	for _, s := range res.Items {
		name := s.ID
		if len(s.Names) > 0 {
			name = strings.TrimPrefix(s.Names[0], "/")
		}
		for _, m := range s.Mounts {
			if m.Type != "bind" {
				continue
			}
			isFile := false
			if fi, err := os.Stat(m.Source); err == nil {
				isFile = !fi.IsDir()
			}
			out = append(out, engine.BindMount{Container: name, Source: m.Source, Destination: m.Destination, IsFile: isFile})
		}
	}
	return out, nil
}

func quoteCmd(cmd []string) string {
	q := make([]string, len(cmd))
	for i, a := range cmd {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$") {
			q[i] = fmt.Sprintf("%q", a)
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}
