package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var flagRE = regexp.MustCompile(`(?:^|[\s\[])--?([a-z][a-z-]*)`)

// The CLI block of docs/DESIGN.md lists every command `bottle -h` lists, and
// for each command exactly the flags its -h prints: the contract cannot drift
// from the tool.
func TestDesignCLIMatchesHelp(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "## CLI\n\n```\n")
	if !ok {
		t.Fatal("docs/DESIGN.md has no CLI block")
	}
	block, _, _ = strings.Cut(block, "```")
	docFlags := map[string][]string{}
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "bottle" {
			continue
		}
		usage, _, _ := strings.Cut(line, "   ") // drop the description column
		if _, ok := docFlags[f[1]]; !ok {
			docFlags[f[1]] = []string{}
		}
		for _, m := range flagRE.FindAllStringSubmatch(strings.Join(strings.Fields(usage)[2:], " "), -1) {
			if !slices.Contains(docFlags[f[1]], m[1]) {
				docFlags[f[1]] = append(docFlags[f[1]], m[1])
			}
		}
	}

	var top bytes.Buffer
	if code := bottleMain([]string{"-h"}, &top, &top); code != 0 {
		t.Fatalf("bottle -h: exit %d", code)
	}
	_, cmds, _ := strings.Cut(top.String(), "Commands:\n")
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	var helpCmds []string
	for _, line := range strings.Split(cmds, "\n") {
		helpCmds = append(helpCmds, strings.Fields(line)[0])
	}
	var docCmds []string
	for c := range docFlags {
		docCmds = append(docCmds, c)
	}
	slices.Sort(helpCmds)
	slices.Sort(docCmds)
	if !slices.Equal(helpCmds, docCmds) {
		t.Errorf("commands: bottle -h lists %v, docs/DESIGN.md %v", helpCmds, docCmds)
	}

	for _, c := range helpCmds {
		var out bytes.Buffer
		bottleMain([]string{c, "-h"}, &out, &out)
		var help []string
		for _, m := range regexp.MustCompile(`(?m)^\s+--?([a-z][a-z-]*)`).FindAllStringSubmatch(out.String(), -1) {
			help = append(help, m[1])
		}
		doc := docFlags[c]
		slices.Sort(help)
		slices.Sort(doc)
		if !slices.Equal(help, doc) {
			t.Errorf("bottle %s: -h prints flags %v, docs/DESIGN.md lists %v", c, help, doc)
		}
	}
}
