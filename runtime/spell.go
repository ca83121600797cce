package runtime

import (
	"maps"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/editdist"
)

// hint adds a "did you mean" to the resolver's "undefined: name" errors,
// which carry none, using the predeclared and universal names.
func hint(msg string, names []string) string {
	name, ok := strings.CutPrefix(msg, "undefined: ")
	if !ok || strings.Contains(name, " ") {
		return msg
	}
	if best := editdist.Closest(name, names); best != "" {
		return msg + " (did you mean " + best + "?)"
	}
	return msg
}

func universe() []string {
	return slices.Collect(maps.Keys(starlark.Universe))
}
