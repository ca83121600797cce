package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bottle-sh/bottle/bottletest"
)

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) != "bottle" && os.Getenv("BOTTLE_IMAGE_BINARY") == "" {
		// engine/docker's bottle_image packages the running binary, and the
		// test binary is not static: give the [docker] scripts a static one.
		if bin, err := buildStatic(); err != nil {
			fmt.Fprintf(os.Stderr, "cmd/bottle: no static bottle for bottle_image: %v\n", err)
		} else {
			os.Setenv("BOTTLE_IMAGE_BINARY", bin)
		}
	}
	if os.Getenv("GOMODCACHE") == "" {
		// Scripts run with HOME=/no-home; those that build test images
		// with dependencies (testdata/gitstory) read this module cache.
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			os.Setenv("GOMODCACHE", strings.TrimSpace(string(out)))
		}
	}
	bottletest.MainFunc(m, func() int { return bottleMain(os.Args[1:], os.Stdout, os.Stderr) })
}

// buildStatic builds a static bottle once per run into the user cache (go's
// build cache makes it a matter of seconds after the first time). Each
// checkout has its own directory there, so test runs of two checkouts at
// once do not package each other's binary.
func buildStatic() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	checkout := sha256.Sum256([]byte(wd))
	out := filepath.Join(cache, "bottle-test", hex.EncodeToString(checkout[:6]), "bottle")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, b)
	}
	return out, nil
}

func TestScripts(t *testing.T) {
	params := bottletest.Params(filepath.Join("..", "..", "testdata", "scripts"),
		bottletest.Recipes(filepath.Join("..", "..", "recipes")),
		bottletest.Update(os.Getenv("UPDATE_SCRIPTS") == "1"),
	)
	// [engine2]: this host can run a second Docker daemon; `engine2`
	// starts it (`engine2 load IMAGE...` also copies images from the host's
	// daemon into it) (once for all scripts, stopped when they are done) and sets
	// $ENGINE2 (tcp://127.0.0.1:PORT), $ENGINE2_CERTS (the client's
	// ca.pem, cert.pem, key.pem) and $ENGINE2_POOL (the subnet pool for
	// its bottles).
	t.Cleanup(func() {
		if err := stopEngine2(); err != nil {
			t.Errorf("stopping the second dockerd: %v", err)
		}
	})
	condition := params.Condition
	params.Condition = func(cond string) (bool, error) {
		if cond != "engine2" {
			return condition(cond)
		}
		why := engine2Possible()
		if why != "" && os.Getenv("BOTTLE_REQUIRE_DOCKER") == "1" {
			return false, fmt.Errorf("[engine2]: %s (BOTTLE_REQUIRE_DOCKER=1)", why)
		}
		return why == "", nil
	}
	params.Cmds["engine2"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || (len(args) > 0 && (args[0] != "load" || len(args) < 2)) {
			ts.Fatalf("usage: engine2 [load IMAGE...]")
		}
		d, err := sharedEngine2()
		if err != nil {
			ts.Fatalf("second dockerd: %v", err)
		}
		if len(args) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			ts.Check(d.load(ctx, args[1:]...))
		}
		ts.Setenv("ENGINE2", d.at.Host)
		ts.Setenv("ENGINE2_CERTS", d.at.CertPath)
		ts.Setenv("ENGINE2_POOL", engine2Pool)
	}
	testscript.Run(t, params)
}
