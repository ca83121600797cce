package docker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sh/bottle/engine"
)

// fakeBin puts executables on a PATH of their own: name -> exit status of
// `name ... version`.
func fakeBin(t *testing.T, bins map[string]int) {
	t.Helper()
	dir := t.TempDir()
	for name, code := range bins {
		script := "#!/bin/sh\necho \"" + name + " $*\"\nexit " + string(rune('0'+code)) + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
}

// BOTTLE_COMPOSE picks a compose over the automatic choice (the v2 plugin,
// else v1), and fails plainly when the one asked for does not work.
func TestComposeChoice(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		env  string
		bins map[string]int
		want []string
		err  string
	}{
		{"", map[string]int{"docker": 0, "docker-compose": 0}, []string{"docker", "compose"}, ""},
		{"", map[string]int{"docker": 1, "docker-compose": 0}, []string{"docker-compose"}, ""},
		{"v1", map[string]int{"docker": 0, "docker-compose": 0}, []string{"docker-compose"}, ""},
		{"v2", map[string]int{"docker": 0, "docker-compose": 0}, []string{"docker", "compose"}, ""},
		{"v2", map[string]int{"docker": 1, "docker-compose": 0}, nil,
			"compose: BOTTLE_COMPOSE=v2, and it does not work (`docker compose version`: exit status 1 docker compose version); install the v2 plugin (`apt-get install docker-compose-plugin`"},
		{"v1", map[string]int{"docker": 0}, nil, "BOTTLE_COMPOSE=v1, and it does not work (`docker-compose`: docker-compose not on PATH); install v1 (`apt-get install docker-compose`), or unset BOTTLE_COMPOSE"},
		{"3", map[string]int{"docker": 0}, nil, `compose: BOTTLE_COMPOSE="3": want v2 (the docker compose plugin), v1 (docker-compose), or unset`},
	} {
		fakeBin(t, c.bins)
		t.Setenv(composeEnv, c.env)
		got, err := detectCompose(ctx)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("BOTTLE_COMPOSE=%q %v: %v, want an error with %q", c.env, c.bins, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("BOTTLE_COMPOSE=%q %v: %v %v, want %v", c.env, c.bins, got, err, c.want)
		}
	}
	// The cached answer is per choice: one for v1 is not read for v2.
	t.Setenv(composeEnv, "v1")
	k1 := composeCacheKey()
	t.Setenv(composeEnv, "v2")
	if composeCacheKey() == k1 {
		t.Error("the compose cache key ignores BOTTLE_COMPOSE")
	}
}

// docker-compose v1 without Python's paramiko cannot reach an ssh://
// engine; its traceback becomes an error that says what to install.
func TestComposeV1SSHWithoutParamiko(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\ncase \"$*\" in *version*) echo 'docker-compose version 1.29.2'; exit 0;; esac\n" +
		"echo 'Traceback (most recent call last):' >&2\necho 'docker.errors.DockerException: Install paramiko package to enable ssh:// support' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-compose"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	t.Setenv("BOTTLE_COMPOSE", "v1")
	e, err := NewAt(context.Background(), engine.Endpoint{Host: "ssh://builder@box.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.runCompose(context.Background(), "compose_up", "bottle-x", dir, "compose.yaml", "up", "-d")
	if err == nil || !strings.Contains(err.Error(), "apt-get install python3-paramiko") || !strings.Contains(err.Error(), "ssh://builder@box.example") {
		t.Errorf("err = %v; want what to install, naming the engine", err)
	}
}
