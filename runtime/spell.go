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
	if best := closest(name, names); best != "" {
		return msg + " (did you mean " + best + "?)"
	}
	return msg
}

// closest returns the name in names nearest to name, or "" when none is
// near enough to be a likely typo.
func closest(name string, names []string) string {
	best, bestDist := "", max(1, (len(name)+1)/3)+1
	for _, c := range names {
		if d := distance(name, c); d < bestDist || (d == bestDist && best != "" && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

func universe() []string {
	out := make([]string, 0, len(starlark.Universe))
	for k := range starlark.Universe {
		out = append(out, k)
	}
	return out
}

// distance is the edit distance of a and b, where swapping two adjacent
// letters (lgo, log) counts as one edit.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
