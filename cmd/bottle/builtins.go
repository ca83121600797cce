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
		usage:   "builtins [--json | --markdown]",
		summary: "list every builtin recipes can call, with its signature and doc",
		order:   30,
		run:     runBuiltins,
	})
}

func runBuiltins(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("builtins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per builtin: name, sig, doc, effect")
	asMarkdown := fs.Bool("markdown", false, "the tables of docs/DESIGN.md's builtin reference, one per family")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle builtins [--json | --markdown]

List every builtin a recipe can call, from the registry the interpreter uses
(builtins/*.go: each builtin's entry is its one description).
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
		fmt.Fprintln(stderr, "usage: bottle builtins [--json | --markdown]")
		return exitUsage
	}
	all := builtins.All()
	switch {
	case *asJSON && *asMarkdown:
		fmt.Fprintln(stderr, "bottle builtins: --json and --markdown are two formats; pick one")
		return exitUsage
	case *asMarkdown:
		io.WriteString(stdout, builtinsMarkdown(all))
		return exitOK
	case *asJSON:
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
		if b.Effect {
			sig += "  [effect]"
		}
		fmt.Fprintf(stdout, "%s%s\n", indent, sig)
		if b.Returns != "" {
			fmt.Fprintf(stdout, "%s    -> %s\n", indent, b.Returns)
		}
		fmt.Fprintf(stdout, "%s    %s\n", indent, b.Doc)
	}
	return exitOK
}

// builtinsMarkdown renders the registry as docs/DESIGN.md's reference: a
// table per family. Members of go.starlark.net's modules, documented there,
// are named on their module's row only.
func builtinsMarkdown(all []builtins.Builtin) string {
	var b strings.Builder
	for _, f := range builtins.Families {
		fmt.Fprintf(&b, "%s:\n\n| builtin | returns | what | effect |\n|---|---|---|---|\n", f.Title)
		for _, e := range all {
			if e.Family != f.Name || e.Upstream {
				continue
			}
			effect := ""
			if e.Effect {
				effect = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", e.Sig, cell(e.Returns), cell(e.Doc), effect)
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// cell escapes what would break a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;").Replace(s)
}
