package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "completion",
		usage:   "completion bash|zsh|fish",
		summary: "print a shell completion script (commands, flags, recipes, parameters, slugs)",
		order:   70,
		run:     runCompletion,
	})
	register(command{name: "__complete", hidden: true, run: runComplete})
}

const completionHelp = `Usage: bottle completion bash|zsh|fish

Print a script that completes bottle's commands, their flags, recipe names,
a recipe's KEY= parameters and bottle slugs (slug=<TAB>, bottle attach <TAB>)
in your shell. The script asks bottle itself (bottle __complete), so it knows
the recipes of --recipes DIR and $BOTTLE_RECIPES and the bottles of --state.

  bash:  echo 'source <(bottle completion bash)' >> ~/.bashrc
  zsh:   echo 'source <(bottle completion zsh)' >> ~/.zshrc   (after compinit)
  fish:  bottle completion fish > ~/.config/fish/completions/bottle.fish
`

var completionScripts = map[string]string{
	"bash": `# bash completion for bottle: source <(bottle completion bash)
_bottle() {
	local line=${COMP_LINE:0:COMP_POINT} IFS=$'\n'
	COMPREPLY=($(bottle __complete bash "$line" 2>/dev/null))
	local c
	for c in "${COMPREPLY[@]}"; do
		[[ $c == *= || $c == */ ]] && compopt -o nospace
	done
}
complete -o default -F _bottle bottle
`,
	"zsh": `#compdef bottle
# zsh completion for bottle: source <(bottle completion zsh)
_bottle() {
	local line=${(j: :)words[1,CURRENT]}
	local -a out open done
	out=(${(f)"$(bottle __complete zsh "$line" 2>/dev/null)"})
	open=(${(M)out:#*[=/]})
	done=(${out:#*[=/]})
	(( ${#open} )) && compadd -S '' -- $open
	(( ${#done} )) && compadd -- $done
	(( ${#out} )) || _files
}
compdef _bottle bottle
`,
	"fish": `# fish completion for bottle: bottle completion fish > ~/.config/fish/completions/bottle.fish
complete -c bottle -f -a '(bottle __complete fish (commandline -cp) 2>/dev/null)'
`,
}

func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, completionHelp)
		return exitOK
	}
	if len(args) != 1 || completionScripts[args[0]] == "" {
		fmt.Fprintf(stderr, "bottle completion: want one of bash, zsh, fish\nusage: bottle %s\n", commands["completion"].usage)
		return exitUsage
	}
	fmt.Fprint(stdout, completionScripts[args[0]])
	return exitOK
}

// runComplete is `bottle __complete SHELL LINE`: the candidates for the last
// word of LINE (the command line up to the cursor), one a line. For bash,
// whose words break at = and :, each is cut after the current word's last
// such break. Nothing printed lets the shell complete file names.
func runComplete(args []string, stdout, _ io.Writer) int {
	if len(args) != 2 {
		return exitUsage
	}
	words := strings.Fields(args[1])
	if len(words) > 0 {
		words = words[1:] // "bottle"
	}
	cur := ""
	if !strings.HasSuffix(args[1], " ") && len(words) > 0 {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	for _, c := range complete(words, cur) {
		if args[0] == "bash" {
			if i := strings.LastIndexAny(cur, "=:"); i >= 0 {
				c = c[i+1:]
			}
		}
		fmt.Fprintln(stdout, c)
	}
	return exitOK
}

// complete returns the candidates for cur after words (the command line
// after "bottle", before cur), those that start with cur.
func complete(words []string, cur string) []string {
	if len(words) == 0 {
		var out []string
		for name, c := range commands {
			if !c.hidden {
				out = append(out, name)
			}
		}
		return matching(out, cur)
	}
	cmd := words[0]
	flags, valued := commandFlags(cmd)
	if strings.HasPrefix(cur, "-") {
		return matching(flags, cur)
	}
	// The positional arguments so far, and the values of the flags that
	// change what there is (--state, --recipes).
	var pos []string
	var state, recipeDir string
	for i := 1; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") {
			name := strings.TrimLeft(w, "-")
			if k, v, ok := strings.Cut(name, "="); ok {
				name, w = k, v
			} else if valued[name] && i+1 < len(words) {
				i++
				w = words[i]
			} else {
				continue
			}
			switch name {
			case "state":
				state = w
			case "recipes":
				recipeDir = w
			}
			continue
		}
		pos = append(pos, w)
	}
	if prev := words[len(words)-1]; strings.HasPrefix(prev, "-") && !strings.Contains(prev, "=") && valued[strings.TrimLeft(prev, "-")] {
		return nil // a flag's value: the shell completes files
	}
	switch cmd {
	case "run", "check":
		if len(pos) == 0 || cmd == "check" {
			return recipeNames(recipeDirs(recipeDir), cur)
		}
		return paramCandidates(pos[0], recipeDirs(recipeDir), state, cur)
	case "attach":
		if len(pos) == 0 {
			return matching(slugs(state), cur)
		}
	case "completion":
		if len(pos) == 0 {
			return matching([]string{"bash", "zsh", "fish"}, cur)
		}
	case "help":
		if len(pos) == 0 {
			return complete(nil, cur)
		}
	}
	return nil
}

var flagLineRE = regexp.MustCompile(`(?m)^\s+(--?[a-z][a-z-]*)( [A-Z'])?`)

// commandFlags are the flags cmd -h lists, and which of them take a value.
func commandFlags(cmd string) ([]string, map[string]bool) {
	c, ok := commands[cmd]
	if !ok || c.hidden || cmd == "completion" {
		return nil, nil
	}
	var help bytes.Buffer
	c.run([]string{"-h"}, &help, io.Discard)
	valued := map[string]bool{}
	var flags []string
	for _, m := range flagLineRE.FindAllStringSubmatch(help.String(), -1) {
		flags = append(flags, m[1])
		if m[2] != "" {
			valued[strings.TrimLeft(m[1], "-")] = true
		}
	}
	return flags, valued
}

// recipeNames are the recipes `bottle recipes` lists, and the .star files
// and directories at cur's path.
func recipeNames(dirs []string, cur string) []string {
	var out []string
	for _, l := range availableRecipes(dirs) {
		out = append(out, l.name)
	}
	files, _ := filepath.Glob(cur + "*")
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			out = append(out, f+"/")
		} else if strings.HasSuffix(f, ".star") {
			out = append(out, f)
		}
	}
	return matching(out, cur)
}

var paramLineRE = regexp.MustCompile(`^([a-z_][a-z0-9_]*)=(\S+)`)

// paramCandidates completes a recipe's arguments: KEY= for each parameter
// its params() declares; after KEY=, the slugs for slug=, 1 and 0 for a
// bool; nothing (file names) for the rest.
func paramCandidates(name string, dirs []string, state, cur string) []string {
	rec, err := findRecipe(name, dirs)
	if err != nil {
		return nil
	}
	lines, err := recipeParams(rec)
	if err != nil {
		return nil
	}
	kinds := map[string]string{}
	var keys []string
	for _, l := range lines {
		if m := paramLineRE.FindStringSubmatch(l); m != nil {
			kinds[m[1]] = m[2]
			keys = append(keys, m[1]+"=")
		}
	}
	key, _, typed := strings.Cut(cur, "=")
	if !typed {
		return matching(keys, cur)
	}
	var values []string
	switch {
	case key == "slug":
		values = slugs(state)
	case kinds[key] == "BOOL":
		values = []string{"1", "0"}
	default:
		return nil
	}
	for i, v := range values {
		values[i] = key + "=" + v
	}
	return matching(values, cur)
}

// slugs are the bottles under the state root (those with a metadata.json).
func slugs(stateFlag string) []string {
	root, err := runtime.StateRoot(stateFlag, os.Getenv)
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir(root)
	var out []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, e.Name(), "metadata.json")); err == nil && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func matching(list []string, prefix string) []string {
	var out []string
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
