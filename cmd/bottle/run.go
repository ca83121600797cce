package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bottle-sh/bottle/engine/record"
	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "run",
		usage:   "run [--dry-run] [--engine NAME] [--state DIR] [--recipes DIR] [--timeout DUR] [--json] [--max-steps N] RECIPE [KEY=VALUE ...]",
		summary: "run a recipe as a transaction (rolled back on failure)",
		order:   10,
		run:     runRun,
	})
}

const runHelp = `Usage: bottle run [flags] RECIPE [KEY=VALUE ...]

Run the Starlark recipe RECIPE as a transaction. RECIPE is a file's path, or
a recipe's name (start, stop, examples/hello; .star may be left off), looked
for in --recipes DIR, then $BOTTLE_RECIPES, then among the recipes built into
bottle: 'bottle recipes' lists them. A file at the path given always wins. KEY=VALUE pairs are the
recipe's arguments: a recipe declares the ones it takes with params(), which
refuses an unknown key or a bad value (exit 2) before anything runs, and
'bottle run RECIPE -h' lists them. Each step prints one line with its
duration on stderr; log() and print() go to stdout.

If the recipe fails (an error, fail(), SIGINT/SIGTERM, --timeout, the step
limit), every step it made is undone in reverse order, all of them even when
one fails, each bounded by 60s, and every undo failure is reported. A second
interrupt during the rollback is ignored. On success nothing is undone.

load() paths are relative to the loading file, or //path from the directory
of RECIPE (for a built-in recipe: the built-in recipes/); nothing outside
that directory can be loaded.

Flags:
`

const runFooter = `
Examples:
  bottle run start name=implementer
  bottle run --dry-run start name=implementer
  bottle run start -h
  bottle run --timeout 2m --json stop slug=implementer
  bottle run ./my-start.star name=implementer

Exit codes: 0 success, 1 failed and rolled back, 2 usage or syntax error
(nothing ran), 130 interrupted and rolled back.
`

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "change nothing: print what each step would do (file writes as diffs)")
	state := fs.String("state", "", "state root `DIR` (default $BOTTLE_STATE_DIR, $XDG_STATE_HOME/bottle, ~/.local/state/bottle)")
	timeout := fs.Duration("timeout", 0, "fail and roll back when the run takes longer than `DUR` (e.g. 90s, 5m); 0 means no limit")
	asJSON := fs.Bool("json", false, "write progress and results as JSON lines")
	maxSteps := fs.Uint64("max-steps", runtime.DefaultMaxSteps, "stop the recipe after `N` Starlark steps (stops runaway loops)")
	engineRef := fs.String("engine", "", "send the run's engine steps to `NAME`: a Docker context or an address (unix://, tcp://, ssh://); default: DOCKER_HOST, DOCKER_CONTEXT, `docker context use`, the local socket. Steps on an existing bottle go to the engine its metadata.json records")
	recipeDir := fs.String("recipes", "", "look for RECIPE by name in `DIR` first (before $BOTTLE_RECIPES and the built-in recipes)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runHelp)
		printFlags(fs)
		fmt.Fprint(fs.Output(), runFooter)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "bottle run: missing RECIPE\nusage: bottle "+commands["run"].usage)
		return exitUsage
	}
	rec, err := findRecipe(fs.Arg(0), recipeDirs(*recipeDir))
	if err != nil {
		report(stdout, stderr, err, *asJSON)
		return runtime.ExitCode(err)
	}
	if wantsHelp(fs.Args()[1:]) {
		return recipeHelp(rec, stdout, stderr)
	}
	kv, err := runtime.ParseArgs(fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(stderr, "bottle run: %v\n", err)
		return exitUsage
	}
	if *maxSteps == 0 {
		fmt.Fprintln(stderr, "bottle run: --max-steps must be at least 1")
		return exitUsage
	}
	root, err := runtime.StateRoot(*state, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bottle run: %v\n", err)
		return exitUsage
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, unix.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case sig := <-sigs:
			cancel(fmt.Errorf("%w by %s", runtime.ErrInterrupted, signalName(sig)))
		case <-ctx.Done():
		}
	}()

	// Syntax and load errors exit 2 before an engine is even made.
	checked, err := runtime.CheckRecipe(ctx, rec.path, rec.reader)
	if err != nil {
		report(stdout, stderr, err, *asJSON)
		return runtime.ExitCode(err)
	}
	recorderOut := stderr
	if *asJSON {
		recorderOut = runtime.DryRunJSON(stderr)
	}
	engines, err := pickEngine(ctx, *dryRun, *engineRef, recorderOut)
	if err != nil {
		if *engineRef != "" {
			err = fmt.Errorf("--engine: %w", err)
		}
		fmt.Fprintf(stderr, "bottle run: %v\n", err)
		return exitUsage
	}
	err = runtime.Run(ctx, runtime.Options{
		Recipe:      rec.path,
		Reader:      rec.reader,
		Checked:     checked,
		Args:        kv,
		Engine:      engines.first,
		Endpoint:    engines.at,
		Engines:     engines.all,
		EngineGiven: *engineRef != "",
		DryRun:      *dryRun,
		StateRoot:   root,
		Timeout:     *timeout,
		MaxSteps:    *maxSteps,
		JSON:        *asJSON,
		Stdin:       os.Stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		IsTTY:       stdinIsTTY,
	})
	report(stdout, stderr, err, *asJSON)
	return runtime.ExitCode(err)
}

// wantsHelp reports whether the arguments after RECIPE ask for its help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// recipeHelp is `bottle run RECIPE -h`: the recipe's leading comment and
// the parameters its params() declares. The recipe runs up to params()
// against the dry-run recorder, with every step refused: nothing changes.
func recipeHelp(rec recipe, stdout, stderr io.Writer) int {
	ctx := context.Background()
	checked, err := runtime.CheckRecipe(ctx, rec.path, rec.reader)
	if err != nil {
		report(stdout, stderr, err, false)
		return runtime.ExitCode(err)
	}
	fmt.Fprintf(stdout, "Usage: bottle run [flags] %s [KEY=VALUE ...]\n\n", rec.path)
	if src, err := readRecipe(rec); err == nil && leadingComment(src) != "" {
		fmt.Fprintf(stdout, "%s\n\n", leadingComment(src))
	}
	eng := record.New(io.Discard) // help: every step is refused anyway
	root, _ := runtime.StateRoot("", os.Getenv)
	err = runtime.Run(ctx, runtime.Options{Recipe: rec.path, Reader: rec.reader, Checked: checked, Engine: eng, DryRun: true, StateRoot: root, Help: stdout})
	report(stdout, stderr, err, false)
	return runtime.ExitCode(err)
}

// leadingComment is the comment block a recipe opens with, without "# ".
func leadingComment(data []byte) string {
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		lines = append(lines, line)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// report writes the outcome: as a JSON result line on stdout, or for a
// person on stderr.
func report(stdout, stderr io.Writer, err error, asJSON bool) {
	if asJSON {
		runtime.Report(stdout, err, true)
		return
	}
	runtime.Report(stderr, err, false)
}

// printFlags lists fs's flags the way people write them: --name VALUE, in
// aligned columns, with the default when it is not the zero value.
func printFlags(fs *flag.FlagSet) {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if len(f.Name) == 1 {
			left = "-" + f.Name
		}
		if name != "" {
			left += " " + name
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	for _, r := range rows {
		fmt.Fprintf(fs.Output(), "  %-*s  %s\n", width, r.left, r.usage)
	}
}

// parseFlags parses args; done reports that the command should return code
// now (help was asked for: printed on stdout, or the flags were bad).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	for _, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK, true
		}
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, true
	}
	if err != nil {
		return exitUsage, true
	}
	return 0, false
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case unix.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

func stdinIsTTY() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
