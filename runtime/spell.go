package runtime

import (
	"strings"

	"go.starlark.net/starlark"
)

// hint adds a "did you mean" to the resolver's "undefined: name" errors,
// which carry none, using the predeclared and universal names.
func hint(msg string, names []string) string {
	name, ok := strings.CutPrefix(msg, "undefined: ")
	if !ok || strings.Contains(name, " ") {
		return msg
	}
	best, bestDist := "", 1+len(name)/3
	for _, c := range names {
		if d := distance(name, c); d < bestDist || (d == bestDist && best != "" && c < best) {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return msg
	}
	return msg + " (did you mean " + best + "?)"
}

func universe() []string {
	out := make([]string, 0, len(starlark.Universe))
	for k := range starlark.Universe {
		out = append(out, k)
	}
	return out
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
