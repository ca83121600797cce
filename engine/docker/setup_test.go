package docker

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A daemon that does not answer: the error names where bottle looked and what to do.
func TestNoDaemon(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/bottle-test.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := New(ctx)
	if err == nil || !strings.Contains(err.Error(), "DOCKER_HOST=unix:///nonexistent/bottle-test.sock") || !strings.Contains(err.Error(), "start dockerd") {
		t.Errorf("err = %v", err)
	}
}

// No compose on PATH: the error says how to install one.
func TestNoCompose(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(composeEnv, "") // bottle's own choice; detect_test.go has the forced ones
	_, err := (&Engine{}).Compose(context.Background())
	if err == nil || !strings.Contains(err.Error(), "docker-compose-plugin") || !strings.Contains(err.Error(), "apt-get install docker-compose") {
		t.Errorf("err = %v", err)
	}
}

func TestComposeDetected(t *testing.T) {
	e := needDocker(t)
	c, err := e.Compose(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compose: %v", c)
}
