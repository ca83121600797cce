package main

import (
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
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
		// The one-line usage a mistake prints names no flag the command lacks.
		for _, m := range flagRE.FindAllStringSubmatch(commands[c].usage, -1) {
			if !slices.Contains(help, m[1]) {
				t.Errorf("bottle %s: usage %q names --%s, which -h does not list", c, commands[c].usage, m[1])
			}
		}
		doc := docFlags[c]
		slices.Sort(help)
		slices.Sort(doc)
		if !slices.Equal(help, doc) {
			t.Errorf("bottle %s: -h prints flags %v, docs/DESIGN.md lists %v", c, help, doc)
		}
	}
}

// The README starts from zero: the command that runs the main job and the
// one that runs the tests; .ci/run runs that same test command with Docker
// required; every module the code imports has a row in the dependency table.
func TestReadmeAndCI(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, quick, _ := strings.Cut(string(readme), "## Quick start")
	quick, _, _ = strings.Cut(quick, "\n## ")
	const testCmd = "go test -count=1 -timeout 30m ./..."
	for _, want := range []string{"run start name=", testCmd} {
		if !strings.Contains(quick, want) {
			t.Errorf("README's Quick start lacks %q", want)
		}
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nexport BOTTLE_REQUIRE_DOCKER=1\n", "\n" + testCmd + "\n"} {
		if !strings.Contains(string(ci), want) {
			t.Errorf(".ci/run lacks the line %q", strings.TrimSpace(want))
		}
	}

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var modules []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(\S+) v\S+`).FindAllStringSubmatch(string(gomod), -1) {
		modules = append(modules, m[1])
	}
	imported := map[string]bool{}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return nil
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			best := ""
			for _, m := range modules {
				if (p == m || strings.HasPrefix(p, m+"/")) && len(m) > len(best) {
					best = m
				}
			}
			if best != "" {
				imported[best] = true
			}
		}
		return nil
	})
	_, table, _ := strings.Cut(string(readme), "| module | why |")
	for m := range imported {
		if !strings.Contains(table, "`"+m+"`") && !strings.Contains(table, "`"+strings.TrimSuffix(m, "/v3")+"`") {
			t.Errorf("README's dependency table has no row for %s, which the code imports", m)
		}
	}
	if len(imported) < 5 {
		t.Errorf("found only %d imported modules: %v", len(imported), imported)
	}
}

// Every command of the README's quick start (but the install line) runs in
// testdata/scripts/quickstart.txtar, as written ("demo" there is $SLUG), or
// under a "# README:" line that says it runs in another form.
func TestReadmeQuickStart(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "testdata", "scripts", "quickstart.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(script), "\n") {
		l = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(l), "# README: "), "! ")
		lines[l] = true
	}
	_, quick, _ := strings.Cut(string(readme), "## Quick start")
	_, block, _ := strings.Cut(quick, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	n := 0
	for _, l := range strings.Split(block, "\n") {
		cmd, _, _ := strings.Cut(l, "  #")
		cmd = strings.TrimSpace(cmd)
		if cmd == "" || strings.Contains(cmd, "go install") {
			continue
		}
		n++
		want := strings.ReplaceAll(cmd, "demo", "$SLUG")
		if !lines[want] {
			t.Errorf("README's quick start runs %q; quickstart.txtar has no line %q", cmd, want)
		}
	}
	if n < 5 {
		t.Errorf("README's quick start has %d commands; want the whole story (doctor, start, attach, logs, stop)", n)
	}
}
