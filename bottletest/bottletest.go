// Package bottletest runs txtar test suites (testscript) against the bottle
// command, so a team can test its own recipes from its own `go test` with the
// same setup bottle's suites use. `bottle test PATH...` runs the same suites
// without Go.
//
// A team's test file:
//
//	func TestMain(m *testing.M) { bottletest.Main(m) }
//
//	func TestRecipes(t *testing.T) {
//		bottletest.Run(t, "testdata/scripts", bottletest.Recipes("recipes"))
//	}
//
// Main finds the bottle binary ($BOTTLE_BINARY, else bottle on $PATH) and puts
// it on the scripts' $PATH. In a script:
//
//	bottle ARGS...      run bottle; fails unless it exits 0 (! bottle: unless it does not)
//	status N            the last bottle command exited with N (0, 1, 2, 130)
//	snapshot DIR FILE   every entry under DIR with its mode, size and SHA-256,
//	                    written to FILE: `cmp` two of them to show nothing changed
//	[docker]            a Docker daemon answers (DOCKER_HOST or the default socket)
//	[compose]           `docker compose version` or `docker-compose version` works
//	[root]              the script runs as root (it may chown files to other users)
//
// With BOTTLE_REQUIRE_DOCKER=1 in the environment, [docker] and [compose] fail
// the test instead of being false when Docker or compose is missing, so CI
// cannot pass by skipping.
//
// Each script runs with BOTTLE_STATE_DIR=$WORK/state, $TESTDATA and $RECIPES
// (when given; also as BOTTLE_RECIPES, so `bottle run start` finds the
// suite's recipes before the built-in ones), $RUNID (8 hex digits, new for every script run: put it in
// bottle names, `env SLUG=story-$RUNID`, so two runs of a suite on one daemon
// never touch each other's containers and networks), and, passed through from
// the environment, DOCKER_HOST, DOCKER_CONFIG, DOCKER_CONTEXT,
// BOTTLE_IMAGE_BINARY, BOTTLE_REQUIRE_DOCKER, BOTTLE_COMPOSE (the compose
// bottle uses) and GOMODCACHE (for scripts that build Go programs
// with dependencies: HOME is /no-home there). When a script ends, passed or failed, the containers
// and networks of the bottles it made (dev.bottle.state under its
// $WORK/state, or a dev.bottle.instance holding its $RUNID) are removed,
// unless the work dir is kept.
package bottletest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
)

// Option configures Params and Run.
type Option func(*config)

type config struct {
	recipes     string
	testdata    string
	binary      string
	update      bool
	workdirRoot string
	setup       func(*testscript.Env) error
}

// Recipes exports dir (made absolute) to scripts as $RECIPES.
func Recipes(dir string) Option { return func(c *config) { c.recipes = abs(dir) } }

// TestData exports dir (made absolute) to scripts as $TESTDATA; by default it
// is the parent of the scripts directory.
func TestData(dir string) Option { return func(c *config) { c.testdata = abs(dir) } }

// Binary names the bottle binary scripts run, instead of the one Main found.
func Binary(path string) Option { return func(c *config) { c.binary = abs(path) } }

// Update makes failing cmp commands rewrite the expected files in the scripts.
func Update(on bool) Option { return func(c *config) { c.update = on } }

// KeepWork keeps each script's work directory under dir ("" for a temp dir
// whose name is logged).
func KeepWork(dir string) Option { return func(c *config) { c.workdirRoot = dir } }

// Setup runs f after the standard setup of each script.
func Setup(f func(*testscript.Env) error) Option { return func(c *config) { c.setup = f } }

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// binary is the bottle that Main or MainFunc set up on $PATH.
var binary string

// Main is for a team's TestMain: it finds the bottle binary ($BOTTLE_BINARY,
// else bottle on $PATH), then runs the tests and exits.
func Main(m *testing.M) {
	bin := os.Getenv("BOTTLE_BINARY")
	if bin == "" {
		bin, _ = exec.LookPath("bottle")
	}
	if bin == "" {
		fmt.Fprintln(os.Stderr, "bottletest: no bottle binary: set BOTTLE_BINARY, or install it on $PATH "+
			"(go install github.com/bottle-sh/bottle/cmd/bottle@latest)")
		os.Exit(2)
	}
	binary = abs(bin)
	os.Exit(m.Run())
}

// MainFunc is Main for a test binary that contains bottle itself (bottle's own
// tests): when a script runs `bottle`, the test binary is run again under that
// name and calls bottle instead of the tests.
func MainFunc(m *testing.M, bottle func() int) {
	if filepath.Base(os.Args[0]) == "bottle" {
		os.Exit(bottle())
	}
	dir, err := os.MkdirTemp("", "bottletest-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bottletest:", err)
		os.Exit(2)
	}
	self, err := os.Executable()
	if err == nil {
		err = copyFile(self, filepath.Join(dir, "bottle"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bottletest: put the test binary on $PATH as bottle:", err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "bottle")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func copyFile(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Run runs every .txtar script in dir as a subtest of t.
func Run(t *testing.T, dir string, opts ...Option) {
	testscript.Run(t, Params(dir, opts...))
}

type statusKey struct{}

// scriptState is per script: the exit code of its last bottle command.
type scriptState struct{ status int }

// Params returns the testscript parameters of a suite in dir, for callers
// that drive testscript themselves (testscript.RunT).
func Params(dir string, opts ...Option) testscript.Params {
	c := &config{binary: binary, testdata: abs(filepath.Dir(dir))}
	for _, o := range opts {
		o(c)
	}
	return testscript.Params{
		Dir:                 dir,
		UpdateScripts:       c.update,
		WorkdirRoot:         c.workdirRoot,
		TestWork:            c.workdirRoot != "",
		RequireUniqueNames:  true,
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			env.Setenv("BOTTLE_STATE_DIR", filepath.Join(env.WorkDir, "state"))
			env.Setenv("TESTDATA", c.testdata)
			id := runID()
			env.Setenv("RUNID", id)
			if c.recipes != "" {
				env.Setenv("RECIPES", c.recipes)
				// `bottle run start` in a script finds the suite's own
				// recipes before the ones built into bottle.
				env.Setenv("BOTTLE_RECIPES", c.recipes)
			}
			if c.binary != "" {
				env.Setenv("PATH", filepath.Dir(c.binary)+string(filepath.ListSeparator)+env.Getenv("PATH"))
			}
			for _, k := range []string{"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "BOTTLE_IMAGE_BINARY", "BOTTLE_REQUIRE_DOCKER", "BOTTLE_COMPOSE", "GOMODCACHE"} {
				if v, ok := os.LookupEnv(k); ok {
					env.Setenv(k, v)
				}
			}
			if env.Getenv("DOCKER_CONFIG") == "" {
				if home, err := os.UserHomeDir(); err == nil {
					env.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
				}
			}
			env.Values[statusKey{}] = &scriptState{}
			if !c.update && c.workdirRoot == "" { // a kept work dir keeps its bottles too, to look at
				root := filepath.Join(env.WorkDir, "state")
				env.Defer(func() { sweep(root, id) })
			}
			if c.setup != nil {
				return c.setup(env)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"bottle":   func(ts *testscript.TestScript, neg bool, args []string) { cmdBottle(ts, neg, args, c.binary) },
			"status":   cmdStatus,
			"snapshot": cmdSnapshot,
			"envfrom":  cmdEnvFrom,
		},
		Condition: condition,
	}
}

// runID is 8 random hex digits: engine object names that include it are
// unique to one script run, while the daemon is shared.
func runID() string {
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// sweep removes the containers and networks whose bottle's state dir is under
// root, or whose dev.bottle.instance holds the script's runID (objects a
// script made on purpose without a state label, or for another state root),
// so a script that failed halfway leaves nothing on a shared daemon.
// Best effort, and free without a daemon (dockerErr is probed once).
func sweep(root, runID string) {
	if dockerErr() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := docker.New(ctx)
	if err != nil {
		return
	}
	mine := func(labels map[string]string) bool {
		return strings.HasPrefix(labels[engine.StateLabel], root+string(filepath.Separator)) ||
			strings.Contains(labels[engine.InstanceLabel], runID)
	}
	for _, label := range []string{engine.StateLabel, engine.InstanceLabel} {
		labelled := map[string]string{label: ""}
		if cs, err := eng.Containers(ctx, labelled); err == nil {
			for _, c := range cs {
				if mine(c.Labels) {
					eng.ContainerRemove(ctx, c.ID)
				}
			}
		}
		if ns, err := eng.Networks(ctx, labelled); err == nil {
			for _, n := range ns {
				if mine(n.Labels) {
					eng.NetworkRemove(ctx, n.ID)
				}
			}
		}
	}
}

func cmdBottle(ts *testscript.TestScript, neg bool, args []string, bin string) {
	if bin == "" {
		ts.Fatalf("bottletest: no bottle binary; call bottletest.Main from TestMain or pass bottletest.Binary")
	}
	st := ts.Value(statusKey{}).(*scriptState)
	err := ts.Exec(bin, args...)
	st.status = 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		st.status = ee.ExitCode()
		if st.status < 0 { // killed by a signal
			st.status = 128 + 9
		}
	default:
		ts.Fatalf("bottle: %v", err)
	}
	if neg && st.status == 0 {
		ts.Fatalf("bottle exited 0; want a failure")
	}
	if !neg && st.status != 0 {
		ts.Fatalf("bottle exited %d; want 0", st.status)
	}
}

// cmdEnvFrom is "envfrom NAME FILE": sets NAME to FILE's contents, trimmed,
// so a script can use what a command printed (an id) in later commands.
func cmdEnvFrom(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfrom NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("usage: status N: %v", err)
	}
	got := ts.Value(statusKey{}).(*scriptState).status
	if (got == want) == neg {
		if neg {
			ts.Fatalf("bottle exited %d; want any other code", got)
		}
		ts.Fatalf("bottle exited %d; want %d", got, want)
	}
}

func condition(cond string) (bool, error) {
	switch cond {
	case "docker":
		return required("a Docker daemon", dockerErr())
	case "compose":
		return required("docker compose (or docker-compose)", composeErr())
	case "root":
		return os.Geteuid() == 0, nil
	}
	return false, fmt.Errorf("unknown condition %q (bottle's are [docker], [compose] and [root])", cond)
}

// required turns a probe into a condition: false when missing, an error (the
// test fails) when missing and BOTTLE_REQUIRE_DOCKER=1.
func required(what string, err error) (bool, error) {
	if err == nil {
		return true, nil
	}
	if os.Getenv("BOTTLE_REQUIRE_DOCKER") == "1" {
		return false, fmt.Errorf("BOTTLE_REQUIRE_DOCKER=1 but %s is not available: %v", what, err)
	}
	return false, nil
}

var dockerErr = sync.OnceValue(func() error {
	api, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer api.Close()
	// Generous: a loaded CI machine must not turn a slow answer into "no Docker".
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = api.Ping(ctx, client.PingOptions{})
	return err
})

var composeErr = sync.OnceValue(func() error {
	// docker-compose v1 spends ~0.5 s starting Python on an idle machine and
	// many seconds under load; each probe gets its own generous limit.
	probe := func(name string, arg ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, name, arg...).Run()
	}
	err1 := probe("docker", "compose", "version")
	if err1 == nil {
		return nil
	}
	err2 := probe("docker-compose", "version")
	if err2 == nil {
		return nil
	}
	return fmt.Errorf("docker compose version: %v; docker-compose version: %v", err1, err2)
})
