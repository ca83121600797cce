package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "check",
		usage:   "check RECIPE...",
		summary: "parse and resolve recipes and everything they load; run nothing",
		order:   20,
		run:     runCheck,
	})
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle check RECIPE...

Parse and resolve each recipe and, transitively, every file it loads; check
that every load() target exists inside the recipe root, defines the names
loaded from it, and that no load cycle exists. Nothing runs, nothing changes.
Errors name file:line:col; the exit code is 2 when there is any.
`)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "bottle check: missing RECIPE\nusage: bottle check RECIPE...")
		return exitUsage
	}
	err := runtime.Check(context.Background(), fs.Args()...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return runtime.ExitCode(err)
	}
	for _, r := range fs.Args() {
		fmt.Fprintf(stdout, "ok %s\n", r)
	}
	return exitOK
}
