package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bottle-sh/bottle/engine/record"
	"github.com/bottle-sh/bottle/recipes"
	"github.com/bottle-sh/bottle/runtime"
)

func init() {
	register(command{
		name:    "recipes",
		usage:   "recipes [--recipes DIR]",
		summary: "list the recipes there are, where each comes from, and its parameters",
		order:   15,
		run:     runRecipes,
	})
}

// embeddedPrefix starts the paths of the recipes built into the binary.
const embeddedPrefix = "embedded:"

var embedded = &runtime.FSReader{FS: recipes.FS, Prefix: embeddedPrefix}

// recipe is a recipe found by name: a path on the disk (reader nil) or in
// the embedded recipes.
type recipe struct {
	path   string             // what runtime is given: a path, or "embedded:start.star"
	reader runtime.FileReader // nil: the disk
}

// recipeDirs are the teams' recipe directories, searched before the
// embedded recipes: --recipes DIR, then $BOTTLE_RECIPES (a list like $PATH).
func recipeDirs(flagDir string) []string {
	var dirs []string
	if flagDir != "" {
		dirs = append(dirs, flagDir)
	}
	for _, d := range filepath.SplitList(os.Getenv("BOTTLE_RECIPES")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// findRecipe finds the recipe name: a file at that path wins; else NAME or
// NAME.star in each of dirs; else among the embedded recipes.
func findRecipe(name string, dirs []string) (recipe, error) {
	if fi, err := os.Stat(name); err == nil {
		if fi.IsDir() {
			return recipe{}, &runtime.UsageError{Err: fmt.Errorf("recipe %s is a directory; give a .star file, or a recipe name (`bottle recipes` lists them)", name)}
		}
		return recipe{path: name}, nil
	}
	if strings.HasPrefix(name, embeddedPrefix) {
		return recipe{path: name, reader: embedded}, nil
	}
	// A path the user spelled as one (./x, /x, ../x) is only ever that path.
	if !filepath.IsAbs(name) && !strings.HasPrefix(name, "."+string(filepath.Separator)) && !strings.HasPrefix(name, "..") {
		for _, candidate := range []string{name, name + ".star"} {
			for _, d := range dirs {
				p := filepath.Join(d, candidate)
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
					return recipe{path: p}, nil
				}
			}
			p := path.Clean(filepath.ToSlash(candidate))
			if fs.ValidPath(p) && !strings.HasPrefix(p, "lib/") {
				if fi, err := fs.Stat(recipes.FS, p); err == nil && !fi.IsDir() {
					return recipe{path: embeddedPrefix + p, reader: embedded}, nil
				}
			}
		}
	}
	where := "no such file"
	if len(dirs) > 0 {
		where += ", not in " + strings.Join(dirs, ", ") + ","
	}
	return recipe{}, &runtime.UsageError{Err: fmt.Errorf("recipe %s: %s and not a recipe built into bottle; `bottle recipes` lists the recipes there are", name, where)}
}

// readRecipe returns the source of r.
func readRecipe(r recipe) ([]byte, error) {
	if r.reader != nil {
		return r.reader.ReadFile(context.Background(), r.path)
	}
	return os.ReadFile(r.path)
}

// listing is one recipe in `bottle recipes`.
type listing struct {
	name, from string
	recipe     recipe
}

// availableRecipes lists the recipes of each dir, then the embedded ones a
// dir does not shadow: top-level .star files and examples/.
func availableRecipes(dirs []string) []listing {
	var out []listing
	seen := map[string]bool{}
	add := func(name, from string, r recipe) {
		if !seen[name] {
			seen[name] = true
			out = append(out, listing{name, from, r})
		}
	}
	for _, d := range dirs {
		for _, pattern := range []string{"*.star", "examples/*.star"} {
			files, _ := filepath.Glob(filepath.Join(d, pattern))
			sort.Strings(files)
			for _, f := range files {
				rel, _ := filepath.Rel(d, f)
				add(strings.TrimSuffix(filepath.ToSlash(rel), ".star"), d, recipe{path: f})
			}
		}
	}
	for _, pattern := range []string{"*.star", "examples/*.star"} {
		files, _ := fs.Glob(recipes.FS, pattern)
		for _, f := range files {
			add(strings.TrimSuffix(f, ".star"), "embedded", recipe{path: embeddedPrefix + f, reader: embedded})
		}
	}
	return out
}

func runRecipes(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("recipes", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("recipes", "", "a team's recipe `DIR`, searched before $BOTTLE_RECIPES and the embedded recipes")
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), `Usage: bottle recipes [--recipes DIR]

List the recipes 'bottle run NAME' finds, in the order it looks: a team's
directories (--recipes DIR, then $BOTTLE_RECIPES, a list like $PATH), then the
recipes built into bottle ("embedded"). A recipe in a directory shadows an
embedded one of the same name; a file named by its path always wins. Each
entry shows the first line of its doc comment and its parameters.

Flags:
`)
		printFlags(fl)
	}
	if code, done := parseFlags(fl, args, stdout); done {
		return code
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "bottle recipes: unexpected argument %q\nusage: bottle %s\n", fl.Arg(0), commands["recipes"].usage)
		return exitUsage
	}
	dirs := recipeDirs(*dir)
	for _, d := range dirs {
		if !isDir(d) {
			fmt.Fprintf(stderr, "bottle recipes: recipe directory %s does not exist (from --recipes or $BOTTLE_RECIPES)\n", d)
			return exitUsage
		}
	}
	from := ""
	for _, l := range availableRecipes(dirs) {
		if l.from != from {
			from = l.from
			if from == "embedded" {
				fmt.Fprintln(stdout, "built into bottle (embedded):")
			} else {
				fmt.Fprintf(stdout, "in %s:\n", from)
			}
		}
		fmt.Fprintf(stdout, "  %-16s %s\n", l.name, firstLine(l.recipe))
		params, err := recipeParams(l.recipe)
		if err != nil {
			fmt.Fprintf(stdout, "      (%s)\n", strings.SplitN(err.Error(), "\n", 2)[0])
			continue
		}
		for _, p := range params {
			fmt.Fprintf(stdout, "      %s\n", p)
		}
	}
	return exitOK
}

// firstLine is the first line of a recipe's doc comment, without the
// "name.star: " it usually opens with.
func firstLine(r recipe) string {
	src, err := readRecipe(r)
	if err != nil {
		return ""
	}
	text, _, _ := strings.Cut(leadingComment(src), "\n")
	if _, rest, ok := strings.Cut(text, ".star: "); ok {
		return rest
	}
	return text
}

// recipeParams runs r up to its params() call (nothing changes: every step is
// refused) and returns the parameter lines it printed.
func recipeParams(r recipe) ([]string, error) {
	ctx := context.Background()
	checked, err := runtime.CheckRecipe(ctx, r.path, r.reader)
	if err != nil {
		return nil, err
	}
	var help bytes.Buffer
	eng := record.New(io.Discard) // help: every step is refused anyway
	root, _ := runtime.StateRoot("", os.Getenv)
	err = runtime.Run(ctx, runtime.Options{Recipe: r.path, Reader: r.reader, Checked: checked, Engine: eng, DryRun: true, StateRoot: root, Help: &help})
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, line := range strings.Split(help.String(), "\n") {
		if strings.HasPrefix(line, "  ") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines, nil
}
