// Command bottle brings up, changes and tears down sandboxed environments
// ("bottles") for AI coding agents on a Docker engine. Every lifecycle step is
// a Starlark recipe; see docs/DESIGN.md for the contract.
//
// This file only dispatches: each subcommand lives in its own file and
// registers itself with register() from an init function.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/bottle-sh/bottle/internal/editdist"
)

// Exit codes, as docs/DESIGN.md states them.
const (
	exitOK          = 0
	exitFailed      = 1   // the recipe failed and was rolled back
	exitUsage       = 2   // usage or recipe syntax/resolve error: nothing ran
	exitInterrupted = 130 // interrupted and rolled back
)

// command is one subcommand. run gets the arguments after the subcommand name
// and returns the exit code.
type command struct {
	name    string
	usage   string // one line: "run [--dry-run] ... RECIPE [KEY=VALUE ...]"
	summary string // one line for `bottle -h`
	order   int    // position in `bottle -h`
	hidden  bool   // not listed, not suggested: machinery for other commands
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("bottle: duplicate command " + c.name)
	}
	commands[c.name] = c
}

func main() { os.Exit(bottleMain(os.Args[1:], os.Stdout, os.Stderr)) }

// bottleMain is main without os.Exit, so testscript can run it in-process.
func bottleMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run([]string{"-h"}, stdout, stderr)
			}
		}
		usage(stdout)
		return exitOK
	case "--version", "-version":
		args[0] = "version"
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "bottle: unknown command %q\n", args[0])
		if s := suggest(args[0]); s != "" {
			fmt.Fprintf(stderr, "did you mean %q?\n", s)
		}
		fmt.Fprintln(stderr, "run 'bottle -h' for the list of commands")
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `bottle keeps AI coding agents in sandboxes ("bottles") on Docker.

A bottle is one compose project: an agent container on an internal network that
reaches the outside only through an egress proxy that allows what the bottle's
routes allow and injects credentials the agent never sees. Every lifecycle step
is a Starlark recipe run as a transaction: on failure, everything it made is undone.

Usage:
  bottle <command> [arguments]

Commands:
`)
	list := make([]command, 0, len(commands))
	for _, c := range commands {
		if !c.hidden {
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].order != list[j].order {
			return list[i].order < list[j].order
		}
		return list[i].name < list[j].name
	})
	for _, c := range list {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Examples:
  bottle doctor                           check that this host can run bottles
  bottle run start name=implementer       bring up a bottle
  bottle run --dry-run start name=x       show what it would do, change nothing
  bottle attach implementer               a shell in its agent
  bottle run stop slug=implementer        tear it down, keeping its logs
  bottle ls                               list bottles and their status
  bottle recipes                          the recipes there are, and their parameters

Exit codes: 0 success, 1 recipe failed (rolled back), 2 usage or syntax error
(nothing ran), 130 interrupted (rolled back).

Run 'bottle <command> -h' for a command's flags. The contract is docs/DESIGN.md.
`)
}

// suggest returns the registered command closest to name, or "".
func suggest(name string) string {
	var names []string
	for c, cmd := range commands {
		if !cmd.hidden {
			names = append(names, c)
		}
	}
	slices.Sort(names)
	for _, c := range names {
		if strings.HasPrefix(c, name) && len(name) >= 2 {
			return c
		}
	}
	return editdist.Closest(name, names)
}
