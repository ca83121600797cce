package docker

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/moby/moby/client"
)

// What `bottle doctor` asks of the daemon and the host, beyond the Engine.

// Daemon is what the daemon says about itself.
type Daemon struct {
	Version    string   // the daemon's version, e.g. 20.10.24
	APIVersion string   // the negotiated API version
	Runtimes   []string // the OCI runtimes it knows (runc, runsc, ...), sorted
}

// Daemon asks the daemon for its version and runtimes.
func (e *Engine) Daemon(ctx context.Context) (Daemon, error) {
	if err := e.ready(ctx); err != nil {
		return Daemon{}, err
	}
	res, err := e.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Daemon{}, fmt.Errorf("docker: info: %w", err)
	}
	d := Daemon{Version: res.Info.ServerVersion, APIVersion: e.api.ClientVersion()}
	for name := range res.Info.Runtimes {
		d.Runtimes = append(d.Runtimes, name)
	}
	sort.Strings(d.Runtimes)
	return d, nil
}

// SubnetRoom is how many /SubnetBits subnets of the pool
// ($BOTTLE_SUBNET_POOL, else DefaultSubnetPool) no network on the daemon
// overlaps. A bottle takes two.
func (e *Engine) SubnetRoom(ctx context.Context) (pool netip.Prefix, free int, err error) {
	if pool, err = subnetPool(); err != nil {
		return pool, 0, err
	}
	if err := e.ready(ctx); err != nil {
		return pool, 0, err
	}
	used, err := e.usedSubnets(ctx)
	if err != nil {
		return pool, 0, fmt.Errorf("docker: list networks: %w", err)
	}
	for range freeSubnets(pool, used) {
		free++
	}
	return pool, free, nil
}

// ComposeFound is one compose command and what `version` said.
type ComposeFound struct {
	Name    string // "v2" or "v1"
	Command string // "docker compose" or "docker-compose"
	Version string // its version line, "" when it does not work
	Err     error  // why it does not work
}

// ComposeVersions tries the v2 plugin and v1, each on its own, and
// DetectCompose is the one bottle would use ($BOTTLE_COMPOSE honoured).
func ComposeVersions(ctx context.Context) []ComposeFound {
	var out []ComposeFound
	for _, c := range []struct{ name, cmd string }{{"v2", "docker compose"}, {"v1", "docker-compose"}} {
		f := ComposeFound{Name: c.name, Command: c.cmd}
		argv := append(strings.Fields(c.cmd), "version", "--short")
		if _, err := exec.LookPath(argv[0]); err != nil {
			f.Err = fmt.Errorf("%s is not on PATH", argv[0])
		} else if b, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			f.Err = fmt.Errorf("`%s version`: %v %s", c.cmd, err, firstLine(b))
		} else {
			f.Version = strings.TrimSpace(firstLine(b))
		}
		out = append(out, f)
	}
	return out
}

// DetectCompose is the compose command a run would use, or why there is none.
func DetectCompose(ctx context.Context) ([]string, error) { return detectCompose(ctx) }

// BottleBinary is the binary bottle_image packs ($BOTTLE_IMAGE_BINARY, else
// the running one); CheckStatic says whether a FROM-scratch image can run it.
func BottleBinary() (string, error) { return bottleBinary() }

// CheckStatic fails unless bin is a static Linux ELF executable.
func CheckStatic(bin string) error { return checkStatic(bin) }

// busyboxPaths are where Debian's busybox-static puts busybox.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// FindBusybox is the static busybox the default agent image is made from:
// $BOTTLE_BUSYBOX, else Debian's /bin/busybox. A dynamically linked one (the
// `busybox` package, not `busybox-static`) cannot run in a FROM-scratch image.
func FindBusybox() (string, error) {
	paths := busyboxPaths
	if p := os.Getenv("BOTTLE_BUSYBOX"); p != "" {
		paths = []string{p}
	}
	var errs []string
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Sprintf("%s: not there", p))
			continue
		}
		if err := checkStaticELF(p); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("no static busybox (%s); `apt-get install busybox-static` (or set BOTTLE_BUSYBOX to a static busybox)", strings.Join(errs, "; "))
}
