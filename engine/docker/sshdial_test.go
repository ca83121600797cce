package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/engine"
)

// An ssh:// engine is reached as the docker CLI reaches it: ssh runs
// `docker system dial-stdio` on the far side, and the API goes over its
// stdin and stdout. Here ssh is a stand-in that records its arguments and
// runs the real docker CLI's dial-stdio against this host's daemon.
func TestSSHEngineThroughDialStdio(t *testing.T) {
	local := needDocker(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI for dial-stdio")
	}
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\nexec docker -H '" + local.Endpoint().Host + "' system dial-stdio\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := Connect(ctx, engine.Endpoint{Host: "ssh://builder@box.example:2222"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, err := e.Daemon(ctx)
	if err != nil || d.Version == "" {
		t.Fatalf("Daemon through ssh = %+v, %v", d, err)
	}
	if _, err := e.Containers(ctx, map[string]string{engine.InstanceLabel: ""}); err != nil {
		t.Errorf("Containers through ssh: %v", err)
	}
	got, _ := os.ReadFile(argsFile)
	want := "-o ConnectTimeout=30 -T -l builder -p 2222 -- box.example docker system dial-stdio"
	if strings.TrimSpace(string(got)) != want {
		t.Errorf("ssh ran with %q, want %q", strings.TrimSpace(string(got)), want)
	}
}

// An ssh that fails says why, in the error.
func TestSSHEngineFailureSaysWhy(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\necho 'ssh: connect to host box.example port 22: Connection refused' >&2\nexit 255\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Connect(ctx, engine.Endpoint{Host: "ssh://box.example"})
	if err == nil || !strings.Contains(err.Error(), "Connection refused") || !strings.Contains(err.Error(), "ssh://box.example") {
		t.Errorf("err = %v; want the ssh error and the address", err)
	}
}

// An ssh:// address whose host or user holds what a shell or ssh's
// %-tokens would act on (in a ProxyCommand of the operator's ssh config)
// is refused before ssh runs.
func TestSSHAddressRefusesShellCharacters(t *testing.T) {
	for _, host := range []string{
		"ssh://a$(id)b", "ssh://x%60id%60@host", "ssh://-oProxyCommand=id", "ssh://h;id",
		"ssh://us$er@host", "ssh://-l@host", "ssh://host%25h",
	} {
		if _, err := sshDialer(host); err == nil || !strings.Contains(err.Error(), "engine address") {
			t.Errorf("sshDialer(%q) = %v; want it refused, naming the address", host, err)
		}
	}
	for _, host := range []string{"ssh://build-1.example.com", "ssh://ci_user@10.0.0.5:2222", "ssh://[::1]:22"} {
		if _, err := sshDialer(host); err != nil {
			t.Errorf("sshDialer(%q) = %v; want it taken", host, err)
		}
	}
}
