package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bottle-sh/bottle/bottletest"
)

func init() {
	register(command{
		name:    "test",
		usage:   "test [--recipes DIR] [--update] [-v] [--work] PATH...",
		summary: "run txtar test suites with bottle and its [docker] and [compose] conditions",
		order:   40,
		run:     runTest,
	})
}

func runTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	update := fs.Bool("update", false, "rewrite the expected output in the scripts when a cmp fails")
	work := fs.Bool("work", false, "keep each script's work directory (its path is printed)")
	verbose := fs.Bool("v", false, "print every script's log, not only the failures'")
	recipes := fs.String("recipes", "", "export `DIR` to scripts as $RECIPES and $BOTTLE_RECIPES (default: a recipes/ next to the suite's testdata/, if any)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle test [flags] PATH...

Run testscript suites: each PATH is a .txtar file or a directory of them. A
script reads like a terminal session; in it, 'bottle ARGS' runs this bottle,
'status N' checks its last exit code, and [docker] / [compose] are true when a
Docker daemon / docker compose is available. With BOTTLE_REQUIRE_DOCKER=1 a
missing Docker fails those scripts instead of skipping them. Each script gets
BOTTLE_STATE_DIR=$WORK/state and TESTDATA (the parent of its directory).

Flags:
`)
		printFlags(fs)
		fmt.Fprint(fs.Output(), `
Examples:
  bottle test testdata/scripts
  bottle test -work -v testdata/scripts/start.txtar

Exit codes: 0 all passed, 1 a script failed, 2 usage error.
`)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "bottle test: missing PATH\nusage: bottle "+commands["test"].usage)
		return exitUsage
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "bottle test: %v\n", err)
		return exitFailed
	}
	root := &suiteT{name: "", out: stdout, verbose: *verbose}
	for _, path := range fs.Args() {
		fi, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(stderr, "bottle test: %v\n", err)
			return exitUsage
		}
		dir, files := path, []string(nil)
		if !fi.IsDir() {
			dir, files = filepath.Dir(path), []string{path}
		}
		opts := []bottletest.Option{bottletest.Binary(self), bottletest.Update(*update)}
		if r := *recipes; r != "" {
			opts = append(opts, bottletest.Recipes(r))
		} else if r := filepath.Join(filepath.Dir(filepath.Dir(dir)), "recipes"); isDir(r) {
			opts = append(opts, bottletest.Recipes(r))
		}
		if *work {
			keep, err := os.MkdirTemp("", "bottle-test-work")
			if err != nil {
				fmt.Fprintf(stderr, "bottle test: %v\n", err)
				return exitFailed
			}
			fmt.Fprintf(stderr, "work directories under %s\n", keep)
			opts = append(opts, bottletest.KeepWork(keep))
		}
		p := bottletest.Params(dir, opts...)
		if files != nil {
			p.Dir, p.Files = "", files
		}
		root.Run(filepath.Clean(path), func(t testscript.T) { testscript.RunT(t, p) })
	}
	if root.failed {
		fmt.Fprintln(stdout, "FAIL")
		return exitFailed
	}
	fmt.Fprintln(stdout, "PASS")
	return exitOK
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// suiteT runs testscript outside `go test`: a sequential testscript.T.
type suiteT struct {
	name    string
	out     io.Writer
	verbose bool

	mu      sync.Mutex
	log     strings.Builder
	failed  bool
	skipped bool
}

func (t *suiteT) Log(args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(&t.log, args...)
}

func (t *suiteT) Fatal(args ...any) { t.Log(args...); t.FailNow() }

func (t *suiteT) FailNow() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	goruntime.Goexit()
}

func (t *suiteT) Skip(args ...any) {
	t.Log(args...)
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	goruntime.Goexit()
}

func (t *suiteT) Parallel()     {} // one script at a time: the machine is shared
func (t *suiteT) Verbose() bool { return t.verbose }

// Run runs f as a sub-test on its own goroutine (FailNow ends it with
// Goexit) and reports its outcome.
func (t *suiteT) Run(name string, f func(testscript.T)) {
	full := name
	if t.name != "" {
		full = t.name + "/" + name
	}
	sub := &suiteT{name: full, out: t.out, verbose: t.verbose}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(sub)
	}()
	<-done
	took := time.Since(start).Round(time.Millisecond)
	status := "PASS"
	switch {
	case sub.failed:
		status = "FAIL"
		t.mu.Lock()
		t.failed = true
		t.mu.Unlock()
	case sub.skipped:
		status = "SKIP"
	}
	if sub.failed || t.verbose {
		fmt.Fprint(t.out, indent(sub.log.String()))
	}
	fmt.Fprintf(t.out, "--- %s: %s (%s)\n", status, sub.name, took)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"
}
