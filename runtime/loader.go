package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/bottle-sh/bottle/internal/editdist"
)

// FileReader is how the runtime finds and reads recipe files.
type FileReader interface {
	// Resolve turns the target of a load() in the file at from (a path Resolve
	// returned earlier, or the recipe) into a canonical path: the same file
	// always gets the same path. It refuses targets outside the recipe root.
	Resolve(ctx context.Context, target, from string) (string, error)
	// ReadFile returns the content of a path returned by Resolve.
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// LocalReader reads files from the disk, confined to Root.
type LocalReader struct {
	Root     string // the recipe root, absolute
	realRoot string
}

// NewLocalReader confines loads to root (made absolute, symlinks resolved).
func NewLocalReader(root string) (*LocalReader, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("recipe root: %w", err)
	}
	return &LocalReader{Root: abs, realRoot: real}, nil
}

// Resolve implements FileReader. It returns the real path of the target.
func (r *LocalReader) Resolve(_ context.Context, target, from string) (string, error) {
	var p string
	switch {
	case strings.HasPrefix(target, "//"):
		p = filepath.Join(r.realRoot, filepath.FromSlash(target[2:]))
	case filepath.IsAbs(target) || strings.HasPrefix(target, "/"):
		return "", fmt.Errorf("absolute path %q: use a path relative to this file, or //path from the recipe root", target)
	default:
		p = filepath.Join(filepath.Dir(from), filepath.FromSlash(target))
	}
	if !within(r.realRoot, p) {
		return "", fmt.Errorf("%q escapes the recipe root %s; a recipe loads only files under its own directory: move or copy the file there", target, r.realRoot)
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%q: no such file (looked for %s)", target, p)
	}
	if err != nil {
		return "", err
	}
	if !within(r.realRoot, real) {
		return "", fmt.Errorf("%q escapes the recipe root %s through a symlink (it is %s); a recipe loads only files under its own directory: copy the file there", target, r.realRoot, real)
	}
	if fi, err := os.Stat(real); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%q is a directory; load a .star file", target)
	}
	return real, nil
}

// ReadFile implements FileReader.
func (r *LocalReader) ReadFile(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(path)
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// module is one parsed and resolved file.
type module struct {
	path    string // canonical, from FileReader.Resolve
	display string // what users see in positions
	prog    *starlark.Program
	loads   []loadRef
	exports map[string]bool // top-level globals, what load() may import
}

// loadRef is one load() statement, resolved.
type loadRef struct {
	target string // as written
	path   string // canonical
	pos    syntax.Position
	names  []*syntax.Ident // imported names, as defined in the target
}

// StaticError is a syntax, resolve or load() error found before anything
// runs. Every entry carries file:line:col.
type StaticError struct {
	Errs []error
}

func (e *StaticError) Error() string {
	var b strings.Builder
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// posError is an error at a position.
type posError struct {
	Pos syntax.Position
	Msg string
}

func (e posError) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// program is the statically checked load graph of one recipe.
type program struct {
	reader  FileReader
	isPre   func(string) bool
	modules map[string]*module // by canonical path
	display func(string) string
	main    *module
	names   []string // predeclared and universal, for "did you mean"
	opts    *syntax.FileOptions
}

// compile parses and resolves the recipe at path and, transitively, every
// file it loads, and checks the load graph. It runs nothing.
func compile(ctx context.Context, reader FileReader, recipe string, pre starlark.StringDict, display func(string) string) (*program, error) {
	p := &program{reader: reader, isPre: pre.Has, modules: map[string]*module{}, display: display, opts: FileOptions()}
	p.names = append(pre.Keys(), universe()...)
	var errs []error
	main, err := p.parse(ctx, recipe)
	if err != nil {
		errs = append(errs, flatten(err)...)
	}
	if main == nil {
		return nil, &StaticError{Errs: errs}
	}
	p.main = main
	// Depth-first walk: parse every target, then check names and cycles.
	var walk func(m *module, chain []*module)
	state := map[*module]int{} // 0 new, 1 on the chain, 2 done
	walk = func(m *module, chain []*module) {
		state[m] = 1
		chain = append(chain, m)
		for _, l := range m.loads {
			if l.path == "" {
				continue
			}
			t := p.modules[l.path]
			if t == nil {
				var err error
				if t, err = p.parse(ctx, l.path); err != nil {
					errs = append(errs, flatten(err)...)
				}
				if t == nil {
					continue
				}
			}
			for _, id := range l.names {
				// In a cycle the target's names are beside the point.
				if t.prog != nil && !t.exports[id.Name] && state[t] != 1 {
					msg := fmt.Sprintf("load: %s does not define %s", t.display, id.Name)
					var defined []string
					for name := range t.exports {
						defined = append(defined, name)
					}
					if best := editdist.Closest(id.Name, defined); best != "" {
						msg += " (did you mean " + best + "?)"
					}
					errs = append(errs, posError{id.NamePos, msg})
				}
			}
			switch state[t] {
			case 1:
				var names []string
				start := 0
				for i, c := range chain {
					if c == t {
						start = i
					}
				}
				for _, c := range chain[start:] {
					names = append(names, c.display)
				}
				names = append(names, t.display)
				errs = append(errs, posError{l.pos, "load cycle: " + strings.Join(names, " -> ")})
			case 0:
				walk(t, chain)
			}
		}
		state[m] = 2
	}
	walk(main, nil)
	if len(errs) > 0 {
		return nil, &StaticError{Errs: dedupe(errs)}
	}
	return p, nil
}

// parse reads, parses and resolves one file and resolves its load() targets.
func (p *program) parse(ctx context.Context, path string) (*module, error) {
	if m := p.modules[path]; m != nil {
		return m, nil
	}
	src, err := p.reader.ReadFile(ctx, path)
	if err != nil {
		return nil, err
	}
	m := &module{path: path, display: p.display(path)}
	f, prog, err := starlark.SourceProgramOptions(p.opts, m.display, src, p.isPre)
	if f == nil {
		return nil, err // a syntax error: there is nothing to walk
	}
	var errs []error
	if err != nil {
		// A resolve error: report it, and still check the file's loads.
		var rl resolve.ErrorList
		if errors.As(err, &rl) {
			for i := range rl {
				rl[i].Msg = hint(rl[i].Msg, p.names)
			}
		}
		errs = append(errs, flatten(err)...)
	}
	p.modules[path] = m
	m.prog = prog
	m.exports = map[string]bool{}
	if prog != nil {
		for _, b := range f.Module.(*resolve.Module).Globals {
			if b.First != nil {
				m.exports[b.First.Name] = true
			}
		}
	}
	for _, stmt := range f.Stmts {
		ls, ok := stmt.(*syntax.LoadStmt)
		if !ok {
			continue
		}
		target, _ := ls.Module.Value.(string)
		ref := loadRef{target: target, pos: ls.Module.TokenPos, names: ls.From}
		canon, err := p.reader.Resolve(ctx, target, path)
		if err != nil {
			errs = append(errs, posError{ls.Module.TokenPos, "load: " + err.Error()})
		} else {
			ref.path = canon
		}
		m.loads = append(m.loads, ref)
	}
	if len(errs) > 0 {
		// Keep the module's refs resolvable so the walk skips the bad ones.
		return m, errorList(errs)
	}
	return m, nil
}

type errorList []error

func (l errorList) Error() string { return (&StaticError{Errs: l}).Error() }

func flatten(err error) []error {
	var rl resolve.ErrorList
	if errors.As(err, &rl) {
		out := make([]error, len(rl))
		for i, e := range rl {
			out[i] = posError{e.Pos, e.Msg}
		}
		return out
	}
	var el errorList
	if errors.As(err, &el) {
		return el
	}
	var se syntax.Error
	if errors.As(err, &se) {
		return []error{posError{se.Pos, se.Msg}}
	}
	return []error{err}
}

func dedupe(errs []error) []error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}
