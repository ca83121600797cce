package docker

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"github.com/bottle-sh/bottle/engine"
)

// agentLayout changes whenever what AgentImage puts in the image changes
// other than the two binaries, so that the digest (and the pinned tag) does.
const agentLayout = "agent-image-1"

// agentDockerfile assembles the default agent from the context AgentImage
// writes: busybox and its applets, bottle (for `fetch` and `idle`), the
// users, and a home the non-root agent user owns.
const agentDockerfile = `FROM scratch
COPY rootfs/ /
COPY --chown=1000:1000 home/ /home/agent/
COPY --chown=1000:1000 workspace/ /workspace/
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/bottle"]
CMD ["idle"]
`

// The accounts of the default agent: root, and agent (uid 1000), whom a
// manifest's agent.user: agent picks.
const (
	agentPasswd = "root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	agentGroup  = "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n"
	// fetch is the HTTP client that honours the proxy variables and
	// SSL_CERT_FILE: busybox's wget sends https through a proxy without
	// CONNECT, and does not verify certificates.
	agentFetch   = "#!/bin/sh\nexec /bottle fetch \"$@\"\n"
	agentProfile = "export PS1='\\u@bottle:\\w\\$ '\n"
)

// AgentImage implements engine.Engine: a FROM-scratch image of the host's
// static busybox (a shell, wget, coreutils), with this bottle binary as
// /bottle and /usr/local/bin/fetch, tagged tag and tag pinned to the digest
// of what it holds. Without a static busybox it fails with engine.ErrNoTools.
func (e *Engine) AgentImage(ctx context.Context, tag string) (string, error) {
	if err := e.ready(ctx); err != nil {
		return "", err
	}
	const step = "agent_image"
	if tag == "" {
		tag = "bottle-agent:local"
	}
	busybox, err := FindBusybox()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %v", step, tag, engine.ErrNoTools, err)
	}
	bin, err := bottleBinary()
	if err == nil {
		err = checkStatic(bin)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", step, tag, err)
	}
	out, err := exec.CommandContext(ctx, busybox, "--list-full").Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %s --list-full: %v", step, tag, busybox, err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	binSum, binSize, err := fileDigest(bin)
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", step, tag, err)
	}
	bbSum, bbSize, err := fileDigest(busybox)
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", step, tag, err)
	}
	h := sha256.Sum256([]byte(agentLayout + "\n" + binSum + "\n" + bbSum + "\n" + strings.Join(applets, " ")))
	sum := hex.EncodeToString(h[:])
	return e.pinnedImage(ctx, step, tag, sum, func(tw *tar.Writer) error {
		dirs := map[string]int64{"rootfs/": 0o755, "home/": 0o755, "workspace/": 0o755, "rootfs/tmp/": 0o1777, "rootfs/root/": 0o700,
			"rootfs/etc/": 0o755, "rootfs/bin/": 0o755, "rootfs/sbin/": 0o755, "rootfs/usr/": 0o755, "rootfs/usr/bin/": 0o755,
			"rootfs/usr/sbin/": 0o755, "rootfs/usr/local/": 0o755, "rootfs/usr/local/bin/": 0o755}
		names := make([]string, 0, len(dirs))
		for d := range dirs {
			names = append(names, d)
		}
		sort.Strings(names)
		for _, d := range names {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: dirs[d]}); err != nil {
				return err
			}
		}
		for _, f := range []struct {
			name string
			mode int64
			data string
		}{
			{"Dockerfile", 0o644, agentDockerfile},
			{"rootfs/etc/passwd", 0o644, agentPasswd},
			{"rootfs/etc/group", 0o644, agentGroup},
			{"rootfs/etc/profile", 0o644, agentProfile},
			{"rootfs/usr/local/bin/fetch", 0o755, agentFetch},
		} {
			if err := writeTarFile(tw, f.name, f.mode, []byte(f.data)); err != nil {
				return err
			}
		}
		if err := copyTarFile(tw, "rootfs/bottle", 0o755, bin, binSize); err != nil {
			return err
		}
		if err := copyTarFile(tw, "rootfs/bin/busybox", 0o755, busybox, bbSize); err != nil {
			return err
		}
		for _, a := range applets {
			if a == "bin/busybox" || !strings.Contains(a, "/") || strings.Contains(a, "..") {
				continue
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "rootfs/" + a, Linkname: "/bin/busybox", Mode: 0o777}); err != nil {
				return err
			}
		}
		return nil
	})
}
