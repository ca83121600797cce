package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bottle-sh/bottle/builtins"
)

func init() {
	register(command{
		name:    "builtins",
		usage:   "builtins [--json]",
		summary: "list every builtin recipes can call, with its signature and doc",
		order:   30,
		run:     runBuiltins,
	})
}

func runBuiltins(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("builtins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per builtin: name, sig, doc, effect")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle builtins [--json]

List every builtin a recipe can call, from the registry the interpreter uses.
Module members (yaml.encode, ...) follow their module. Builtins marked
"effect" create or change something: they are undone on failure and refused
while a loaded file's top level runs.

Flags:
`)
		printFlags(fs)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: bottle builtins [--json]")
		return exitUsage
	}
	all := builtins.All()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, b := range all {
			enc.Encode(struct {
				Name   string `json:"name"`
				Sig    string `json:"sig"`
				Doc    string `json:"doc"`
				Effect bool   `json:"effect"`
			}{b.Name, b.Sig, b.Doc, b.Effect})
		}
		return exitOK
	}
	for _, b := range all {
		sig, indent := b.Sig, ""
		if strings.Contains(b.Name, ".") {
			indent = "  "
		}
		if sig == "" {
			sig = b.Name
		}
		if b.Effect {
			sig += "  [effect]"
		}
		fmt.Fprintf(stdout, "%s%s\n%s    %s\n", indent, sig, indent, b.Doc)
	}
	return exitOK
}
