package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// FSReader reads recipes from an fs.FS (the recipes built into the binary),
// confined to the FS's root. Its canonical paths are Prefix followed by the
// slash-separated path inside the FS ("embedded:lib/bottle.star"), so that
// messages say where a file came from and no path can be taken for one on
// the disk.
type FSReader struct {
	FS     fs.FS
	Prefix string
}

// Recipe returns the canonical path of the recipe at name, a path inside
// the FS (with or without the Prefix).
func (r *FSReader) Recipe(ctx context.Context, name string) (string, error) {
	return r.Resolve(ctx, "//"+strings.TrimPrefix(name, r.Prefix), r.Prefix)
}

// Resolve implements FileReader.
func (r *FSReader) Resolve(_ context.Context, target, from string) (string, error) {
	var p string
	switch {
	case strings.HasPrefix(target, "//"):
		p = path.Clean(target[2:])
	case strings.HasPrefix(target, "/"):
		return "", fmt.Errorf("absolute path %q: use a path relative to this file, or //path from the recipe root", target)
	default:
		p = path.Join(path.Dir(strings.TrimPrefix(from, r.Prefix)), target)
	}
	if !fs.ValidPath(p) || p == "." {
		return "", fmt.Errorf("%q escapes the recipe root %s; a recipe loads only files under its own root", target, r.Prefix)
	}
	fi, err := fs.Stat(r.FS, p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%q: no such file (looked for %s%s)", target, r.Prefix, p)
	}
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%q is a directory; load a .star file", target)
	}
	return r.Prefix + p, nil
}

// ReadFile implements FileReader.
func (r *FSReader) ReadFile(_ context.Context, name string) ([]byte, error) {
	if !strings.HasPrefix(name, r.Prefix) {
		return nil, fmt.Errorf("%s is not under %s", name, r.Prefix)
	}
	return fs.ReadFile(r.FS, strings.TrimPrefix(name, r.Prefix))
}
