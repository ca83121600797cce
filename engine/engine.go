// Package engine defines the Engine interface that bottle's builtins call to
// act on a container engine, and the plain data types that cross it.
//
// Two implementations exist: engine/docker talks to a real Docker daemon (the
// moby client plus the compose CLI) and engine/record is the dry-run recorder,
// which prints what it would do and returns plausible values. The engine knows
// nothing of Starlark; builtins convert these types to Starlark values.
//
// Every method takes a context and must return promptly when it is cancelled:
// SIGINT, SIGTERM and --timeout cancel it. Errors name the object and the step
// ("network_create bottle-x-int: ..."), so the builtin can pass them through.
package engine

import (
	"context"
	"errors"
	"io"
	"regexp"
	"time"
)

// InstanceLabel is the label every object bottle makes carries, with the
// bottle's slug (or the compose project) as its value, so cleanup can find it.
const InstanceLabel = "dev.bottle.instance"

// StateLabel carries the state dir of the bottle an object belongs to
// (recipes/lib/names.star sets it on every container and network), so that
// bottle ls and the test sweep tell apart bottles of one slug under two roots.
const StateLabel = "dev.bottle.state"

// Compose labels that compose v1 and v2 both put on the containers they make.
const (
	ComposeProjectLabel = "com.docker.compose.project"
	ComposeServiceLabel = "com.docker.compose.service"
)

// ErrNotFound is wrapped by errors about a container, network or image that
// does not exist, so callers can tell "absent" from "broken".
var ErrNotFound = errors.New("not found")

// ErrNoTools is wrapped by AgentImage's error when the host has no static
// busybox to make the default agent from.
var ErrNoTools = errors.New("no static busybox on this host")

// ErrNoLine is wrapped by WaitLog's error when no line matched within its
// timeout (the container still running), so a caller can take that as an
// answer rather than a failure.
var ErrNoLine = errors.New("no matching line")

// ErrNoDaemon is wrapped by the error of every call when no daemon exists at
// a local socket: recipes that touch only files still run, and the first
// engine step fails naming the socket.
var ErrNoDaemon = errors.New("no Docker daemon")

// NetworkSpec describes a network to create.
type NetworkSpec struct {
	Name     string
	Internal bool              // no route to the outside world, and no address of the host on it
	Subnet   string            // CIDR; "" picks a free /28 from $BOTTLE_SUBNET_POOL (default 10.213.0.0/16)
	Labels   map[string]string // InstanceLabel is expected among them
}

// Network is a network as the daemon reports it.
type Network struct {
	Name     string
	ID       string
	Subnet   string
	Gateway  string
	Internal bool
	Labels   map[string]string
	// Containers names the containers attached to the network (sorted);
	// filled by Networks, not by NetworkCreate.
	Containers []string
}

// ComposeFile is the name of a project's compose file in its Dir: where
// ComposeUp writes the spec and ComposeDown reads stop order and grace
// periods back.
const ComposeFile = "docker-compose.yml"

// ComposeProject is a compose project to bring up. YAML is the rendered spec;
// the engine writes it to File (mode 0600) and runs `up -d` with -p Project.
type ComposeProject struct {
	Project string
	Dir     string
	File    string // absolute path; "" means Dir/ComposeFile
	YAML    []byte
}

// ComposeResult is what compose_up returns.
type ComposeResult struct {
	Project    string
	File       string
	Containers map[string]string // service -> container name, found by label
	// Started is the daemon's time just before `up` ran: every line its
	// containers printed is at or after it (wait_log's since).
	Started time.Time
}

// ExecResult is the outcome of a command run inside a container.
type ExecResult struct {
	Code   int
	Stdout string
	Stderr string
}

// Mount is one mount of a container.
type Mount struct {
	Type        string // "bind", "volume", "tmpfs"
	Source      string // host path for binds
	Destination string
	RW          bool
}

// Container is a container as inspect reports it.
type Container struct {
	ID        string
	Name      string // without the leading "/"
	Image     string
	Running   bool
	Status    string // "running", "exited", ...
	StartedAt time.Time
	Created   time.Time
	Mounts    []Mount
	Networks  map[string]string // network name -> IPv4 address
	Labels    map[string]string
}

// BindMount is a single-file (or directory) bind mount of a running container.
type BindMount struct {
	Container   string // container name
	Source      string // host path
	Destination string
	IsFile      bool
}

// ExecIO wires an interactive exec (bottle attach) to a terminal.
type ExecIO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
	// Resize, when not nil, delivers terminal sizes (rows, cols) while the exec runs.
	Resize <-chan [2]uint
	Env    []string
	User   string
}

// Runtimes are the OCI runtimes a daemon can run containers with.
type Runtimes struct {
	Names   []string // sorted: "runc", "runsc" (gVisor) when registered, ...
	Default string   // what a container gets when it names none
}

// Engine is everything bottle asks of a container engine.
type Engine interface {
	// NetworkCreate creates a network; a name already in use is an error.
	NetworkCreate(ctx context.Context, spec NetworkSpec) (Network, error)
	// NetworkRemove removes a network named by id (or unique id prefix) or
	// name, always by its id; a name several networks carry is an error
	// naming their ids. It returns false, nil when none exists.
	NetworkRemove(ctx context.Context, ref string) (bool, error)
	// Networks lists networks carrying all of the given labels ("" value: any value).
	Networks(ctx context.Context, labels map[string]string) ([]Network, error)

	// ComposeUp writes p.YAML to p.File (0600) and runs `up -d`; it returns the
	// project's containers found by the compose labels.
	ComposeUp(ctx context.Context, p ComposeProject) (ComposeResult, error)
	// ComposeDown writes the project's logs to logs (when not "") in the form of
	// `logs --no-color --timestamps`, then does what `down --remove-orphans` does.
	// A project that is already gone is success.
	ComposeDown(ctx context.Context, project, dir, logs string) error

	// Signal sends sig ("HUP", "SIGHUP", "TERM", ...) to the container's PID 1.
	Signal(ctx context.Context, container, sig string) (time.Time, error)
	// Restart restarts the container, waiting up to timeout for it to stop;
	// it returns the daemon's time just before the restart began.
	Restart(ctx context.Context, container string, timeout time.Duration) (time.Time, error)
	// Exec runs cmd in the container and returns its exit code and output.
	Exec(ctx context.Context, container string, cmd []string) (ExecResult, error)
	// ExecInteractive runs cmd in the container wired to a terminal; it returns the exit code.
	ExecInteractive(ctx context.Context, container string, cmd []string, io ExecIO) (int, error)
	// CopyFrom reads one regular file out of the container (no shell needed).
	CopyFrom(ctx context.Context, container, path string) ([]byte, error)
	// Inspect describes a container.
	Inspect(ctx context.Context, container string) (Container, error)
	// Containers lists containers (running or not) carrying all of the given labels.
	Containers(ctx context.Context, labels map[string]string) ([]Container, error)
	// ContainerRemove force-removes a container; false, nil when it does not exist.
	ContainerRemove(ctx context.Context, container string) (bool, error)
	// WaitLog returns the first log line (stdout or stderr, without timestamp)
	// at or after since that matches re; on timeout the error quotes the last
	// lines seen.
	WaitLog(ctx context.Context, container string, re *regexp.Regexp, since time.Time, timeout time.Duration) (string, error)

	// ImageBuild builds tag from a directory context and returns the image id.
	ImageBuild(ctx context.Context, tag, contextDir, dockerfile string) (string, error)
	// BottleImage makes (or reuses, by digest label) a FROM-scratch image
	// holding the running bottle binary with entrypoint /bottle, tagged tag
	// and tag pinned to the binary's digest; it returns the pinned tag.
	BottleImage(ctx context.Context, tag string) (string, error)
	// AgentImage makes (or reuses) the default agent's FROM-scratch image:
	// the host's static busybox and this bottle binary (docs/manifest.md,
	// "The default agent"), tagged tag and tag pinned to its content's
	// digest; it returns the pinned tag. Without a static busybox on the
	// host it fails with ErrNoTools.
	AgentImage(ctx context.Context, tag string) (string, error)

	// BindMounts lists the bind mounts of running containers.
	BindMounts(ctx context.Context) ([]BindMount, error)

	// Runtimes lists the daemon's OCI runtimes and its default one.
	Runtimes(ctx context.Context) (Runtimes, error)
}

// Endpoint says where an engine is, as the docker CLI names one: a context
// of its context store (Name), or an address (Host, with the TLS settings
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH gave). A bottle's metadata.json
// records the endpoint it was started on, and every later step goes there.
type Endpoint struct {
	Name string // the Docker context; "" when named by its address
	// Host is the daemon's address: unix:///var/run/docker.sock,
	// tcp://host:2376, ssh://user@host. Two endpoints with one Host are
	// one engine.
	Host      string
	TLS       bool   // tcp with TLS
	TLSVerify bool   // verify the daemon's certificate against the CA
	CertPath  string // the directory of ca.pem, cert.pem and key.pem; "" none
}

// String is the endpoint as a person names it: the context and its
// address, or the address.
func (e Endpoint) String() string {
	if e.Name != "" {
		return e.Name + " (" + e.Host + ")"
	}
	return e.Host
}

// Engines are the engines a run can reach: the CLI gives the run one
// (engine/docker's, or the recorder's under --dry-run), and use_engine()
// goes through it.
type Engines interface {
	// Resolve names an engine without contacting it: "" is the default
	// one (as the docker CLI picks it), an address (with "://") is taken
	// as it is, anything else is a Docker context.
	Resolve(ref string) (Endpoint, error)
	// Open returns the engine at an endpoint Resolve gave (or one a
	// bottle's metadata recorded).
	Open(ctx context.Context, at Endpoint) (Engine, error)
}
