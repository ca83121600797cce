// Package docker implements engine.Engine against a real Docker daemon: the
// Engine API through github.com/moby/moby/client (API version negotiated, so a
// 20.10 daemon speaking 1.41 works) and the compose CLI for compose projects
// (the v2 plugin `docker compose` when it answers, else v1's `docker-compose`).
//
// What each method does, beyond the interface's one-line contract:
//
//   - NetworkCreate picks a free /28 from a pool ($BOTTLE_SUBNET_POOL, default
//     10.213.0.0/16) when the spec has no subnet, so a host is not capped by
//     the daemon's ~30 default address pools; it refuses a name in use itself,
//     because daemons before API 1.44 accept duplicate network names.
//   - New pings the daemon and negotiates the API version; NewAsync does that
//     in the background and each method waits for it before its first request.
//   - ComposeUp shells out to compose with -p and -f always given, and finds
//     containers by the compose labels, never by name (v1 and v2 name
//     containers differently). Compose is detected once and the answer
//     cached on disk (read in the background from New). ComposeDown runs no
//     compose process: it gathers the logs and does what `down
//     --remove-orphans` does through the API, by the project label (stop in
//     reverse depends_on order with each service's stop_grace_period,
//     remove, then the networks compose made), which saves a v1 compose its
//     ~0.5 s Python start and its slower steps.
//   - Signal sends a reload signal (HUP, USR1, USR2) straight to the
//     container's PID 1 through a pidfd when /proc shows that process in the
//     container's cgroup and bottle may signal it: the daemon would start
//     `runc kill` for it (tens to hundreds of ms) and mark the container
//     stopped by the user. Any other signal or container goes to the daemon.
//   - WaitLog follows the log stream from since and reads it once more when
//     the stream ends early (a daemon may end a follow before the last lines).
//   - Exec and ExecInteractive wait for the daemon to record the exit code.
//   - CopyFrom reads the container's filesystem through the archive endpoint,
//     so it works on FROM-scratch images with no shell.
//   - BottleImage builds a FROM-scratch image holding the running binary,
//     reused while its sha256 label matches.
//
// Every error names the step and the object ("network_create bottle-x-int: ...").
package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// Engine talks to one Docker daemon. It is safe for concurrent use.
type Engine struct {
	api *client.Client
	at  engine.Endpoint // where the daemon is; compose is pointed there too

	// pinged is closed when the first ping (API version negotiation) has
	// answered, with pingErr its outcome; every method that calls the daemon
	// waits for it (ready), so no request runs with an unnegotiated version.
	pinged  chan struct{}
	pingErr error

	composeMu sync.Mutex
	probe     *composeProbe // the compose detection, started by New from the cache

	// onCompose, when set (benchmarks), learns how long each compose process ran.
	onCompose func(args []string, took time.Duration)
	// onStopped, when set (tests), learns each container ComposeDown stopped, in order.
	onStopped func(name string)
	// replaceGrace: a build leaves an image it took the tag from when the
	// image is younger than this (defaultReplaceGrace; tests set 0).
	replaceGrace time.Duration
	// signalViaAPI makes Signal always ask the daemon (tests, benchmarks).
	signalViaAPI bool
	// noLocalDaemon: DOCKER_HOST names a unix socket that does not exist.
	noLocalDaemon bool

	clock daemonClock // the daemon's time, for the times Restart, Signal and ComposeUp return
}

var _ engine.Engine = (*Engine)(nil)

// pingTimeout bounds the first contact, so a daemon that accepts the
// connection but never answers fails New instead of hanging the run.
const pingTimeout = 15 * time.Second

// New connects to the daemon named by the environment as the docker CLI
// picks it (DOCKER_HOST, DOCKER_CONTEXT, `docker context use`, else the
// default socket; Engines.Resolve), negotiates the API version, and fails with advice when the
// daemon does not answer.
func New(ctx context.Context) (*Engine, error) {
	at, err := defaultEndpoint()
	if err != nil {
		return nil, err
	}
	return Connect(ctx, at)
}

// defaultEndpoint is the engine the environment names, as the docker CLI
// picks it.
func defaultEndpoint() (engine.Endpoint, error) {
	at, err := Engines{Getenv: os.Getenv}.Resolve("")
	if err != nil {
		return at, fmt.Errorf("docker: %w", err)
	}
	return at, nil
}

// Connect is New for the engine at an endpoint.
func Connect(ctx context.Context, at engine.Endpoint) (*Engine, error) {
	e, err := NewAt(ctx, at)
	if err != nil {
		return nil, err
	}
	if err := e.ready(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// NewAsync is New without waiting for the daemon's first answer: the ping
// runs in the background and the first method that needs the daemon waits
// for it, failing with New's advice when no daemon answers. `bottle run`
// uses it so that loading the recipe overlaps that round trip. Only a unix
// socket that does not exist fails here.
func NewAsync(ctx context.Context) (*Engine, error) {
	at, err := defaultEndpoint()
	if err != nil {
		return nil, err
	}
	return NewAt(ctx, at)
}

// NewAt is NewAsync for the engine at an endpoint.
func NewAt(ctx context.Context, at engine.Endpoint) (*Engine, error) {
	opts, err := clientOptions(at)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: configure the client for %s: %w", at, err)
	}
	e := &Engine{api: api, at: at, pinged: make(chan struct{}), replaceGrace: defaultReplaceGrace}
	if sock, ok := strings.CutPrefix(api.DaemonHost(), "unix://"); ok {
		if _, err := os.Stat(sock); err != nil {
			// No daemon on this host: a recipe that only touches files still
			// runs; its first engine step fails with this error.
			e.pingErr = noDaemonError{noDaemon(at, err)}
			e.noLocalDaemon = true
			close(e.pinged)
			return e, nil
		}
	}
	go func() {
		defer close(e.pinged)
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
		defer cancel()
		if _, err := api.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			e.pingErr = noDaemon(at, err)
		}
	}()
	e.composeMu.Lock()
	e.startProbe(true)
	e.composeMu.Unlock()
	return e, nil
}

// ready waits for the first ping and returns its error.
func (e *Engine) ready(ctx context.Context) error {
	select {
	case <-e.pinged:
		return e.pingErr
	case <-ctx.Done():
		return fmt.Errorf("docker: waiting for the daemon: %w", ctx.Err())
	}
}

// noDaemonError reads as its cause and is engine.ErrNoDaemon to errors.Is.
type noDaemonError struct{ cause error }

func (e noDaemonError) Error() string   { return e.cause.Error() }
func (e noDaemonError) Unwrap() []error { return []error{engine.ErrNoDaemon, e.cause} }

func noDaemon(at engine.Endpoint, err error) error {
	return fmt.Errorf("docker: no daemon answers at %s (%v); start dockerd (or Docker Desktop), "+
		"or point DOCKER_HOST at a running daemon, and check that you may use its socket", hostName(at), err)
}

// Endpoint is where the engine's daemon is.
func (e *Engine) Endpoint() engine.Endpoint { return e.at }

// Close releases the client's connections.
func (e *Engine) Close() error { return e.api.Close() }

// APIVersion is the negotiated Engine API version ("" when no daemon answered).
func (e *Engine) APIVersion() string {
	if e.ready(context.Background()) != nil {
		return ""
	}
	return e.api.ClientVersion()
}

// hostName names the daemon's address as the operator gave it.
func hostName(at engine.Endpoint) string {
	if at.Name != "" {
		return "context " + at.String()
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" && h == at.Host {
		return "DOCKER_HOST=" + h
	}
	return at.Host
}

// labelFilters turns a label selector ("" value: any value) into API filters.
func labelFilters(labels map[string]string) client.Filters {
	f := make(client.Filters)
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	return f
}

// isNotFound reports whether err says the object does not exist.
func isNotFound(err error) bool {
	return cerrdefs.IsNotFound(err)
}

// notFound wraps err so that errors.Is(err, engine.ErrNotFound) holds.
func notFound(step, object string, err error) error {
	return fmt.Errorf("%s %s: %w (%v)", step, object, engine.ErrNotFound, trimAPIError(err))
}

// fail formats an error that names the step and the object.
func fail(step, object string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", step, object, err)
	}
	if isNotFound(err) {
		return notFound(step, object, err)
	}
	return fmt.Errorf("%s %s: %v", step, object, trimAPIError(err))
}

// trimAPIError drops the "Error response from daemon: " prefix, which says
// nothing the step name does not.
func trimAPIError(err error) string {
	return strings.TrimPrefix(err.Error(), "Error response from daemon: ")
}

func copyLabels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
