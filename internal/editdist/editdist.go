// Package editdist measures how far apart two names are, for every "did you
// mean" hint bottle prints: unknown commands, keyword arguments, recipe
// parameters, undefined names and manifest keys. One distance and one rule
// for "near enough" keep the hints alike everywhere.
package editdist

import "slices"

// Distance returns the edit distance of a and b, counted in bytes, where
// swapping two adjacent letters (lgo, log) counts as one edit, as a typist
// would count it (optimal string alignment).
func Distance(a, b string) int {
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

// Closest returns the candidate nearest to name, or "" when none is near
// enough to be a likely typo: at most one edit per three letters of name
// (at least one). Ties go to the alphabetically first candidate, so the hint
// does not depend on the order candidates come in (a map's keys).
func Closest(name string, candidates []string) string {
	best, bestDist := "", max(1, (len(name)+1)/3)+1
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		if d := Distance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
