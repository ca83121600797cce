package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "check",
		usage:   "check [--recipes DIR] RECIPE...",
		summary: "parse and resolve recipes and everything they load; run nothing",
		order:   20,
		run:     runCheck,
	})
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	recipeDir := fs.String("recipes", "", "look for recipes by name in `DIR` first (before $BOTTLE_RECIPES and the built-in recipes)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle check [--recipes DIR] RECIPE...

Each RECIPE is a path or a recipe's name, found as 'bottle run' finds it
('bottle check start stop' checks the built-in ones).

Parse and resolve each recipe and, transitively, every file it loads; check
that every load() target exists inside the recipe root, defines the names
loaded from it, and that no load cycle exists. Nothing runs, nothing changes.
Errors name file:line:col; the exit code is 2 when there is any.

Flags:
`)
		printFlags(fs)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "bottle check: missing RECIPE\nusage: bottle check RECIPE...")
		return exitUsage
	}
	var errs []error
	var found []recipe
	for _, name := range fs.Args() {
		rec, err := findRecipe(name, recipeDirs(*recipeDir))
		if err != nil {
			fmt.Fprintf(stderr, "bottle check: %v\n", err)
			return exitUsage
		}
		if _, err := runtime.CheckRecipe(context.Background(), rec.path, rec.reader); err != nil {
			var se *runtime.StaticError
			if !errors.As(err, &se) {
				fmt.Fprintln(stderr, err)
				return runtime.ExitCode(err)
			}
			errs = append(errs, se.Errs...)
		}
		found = append(found, rec)
	}
	if len(errs) > 0 {
		fmt.Fprintln(stderr, &runtime.StaticError{Errs: errs})
		return exitUsage
	}
	for _, r := range found {
		fmt.Fprintf(stdout, "ok %s\n", r.path)
	}
	return exitOK
}
