package gitgate

import (
	"regexp/syntax"
	"strings"

	"github.com/zricethezav/gitleaks/v8/config"
)

// reach is how far past its first byte a rule's match may go: at most
// bytes bytes (-1: no bound), and at most lines newlines (-1: no bound).
type reach struct {
	bytes, lines int
}

// pieceRule tells whether a gitleaks rule may be run on a piece of a blob
// instead of the whole blob without missing a match, and how far a match
// of it reaches. It may when its matches are bounded, in bytes or in the
// newlines they cross, and every match holds one of the rule's keywords:
// the piece holding a match then holds a keyword too, so gitleaks'
// keyword prefilter runs the rule on that piece.
func pieceRule(r config.Rule) (reach, bool) {
	if r.Regex == nil || len(r.Keywords) == 0 || len(r.RequiredRules) > 0 || r.SkipReport {
		return reach{}, false
	}
	re, err := syntax.Parse(r.Regex.String(), syntax.Perl)
	if err != nil {
		return reach{}, false
	}
	runes, lines := maxRunes(re), maxNewlines(re)
	if lines < 0 {
		return reach{}, false // unbounded across lines: a private key block, for one
	}
	if required(re, r.Keywords).any == nil {
		return reach{}, false
	}
	if runes < 0 {
		return reach{bytes: -1, lines: lines}, true
	}
	return reach{bytes: runes * 4, lines: lines}, true // a rune is at most 4 bytes of UTF-8
}

// maxNewlines is the most newlines a match of re can cross, or -1 when it
// has no bound.
func maxNewlines(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return strings.Count(string(re.Rune), "\n")
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
				return 1
			}
		}
		return 0
	case syntax.OpAnyChar:
		return 1
	case syntax.OpAnyCharNotNL, syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpNoMatch:
		return 0
	case syntax.OpCapture, syntax.OpQuest:
		return maxNewlines(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if maxNewlines(re.Sub[0]) == 0 {
			return 0
		}
		return -1
	case syntax.OpRepeat:
		n := maxNewlines(re.Sub[0])
		if n < 0 || (re.Max < 0 && n > 0) {
			return -1
		}
		return n * max(re.Max, 0)
	case syntax.OpConcat, syntax.OpAlternate:
		total, most := 0, 0
		for _, sub := range re.Sub {
			n := maxNewlines(sub)
			if n < 0 {
				return -1
			}
			total += n
			most = max(most, n)
		}
		if re.Op == syntax.OpAlternate {
			return most
		}
		return total
	}
	return -1
}

func holdsKeyword(s string, keywords []string) bool {
	for _, k := range keywords {
		if strings.Contains(s, strings.ToLower(k)) {
			return true
		}
	}
	return false
}

// maxRunes is the most runes a match of re can span, or -1 when it has no
// bound.
func maxRunes(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpNoMatch:
		return 0
	case syntax.OpCapture:
		return maxRunes(re.Sub[0])
	case syntax.OpQuest:
		return maxRunes(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if maxRunes(re.Sub[0]) == 0 {
			return 0
		}
		return -1
	case syntax.OpRepeat:
		n := maxRunes(re.Sub[0])
		if n < 0 || (re.Max < 0 && n > 0) {
			return -1
		}
		return n * max(re.Max, 0)
	case syntax.OpConcat:
		total := 0
		for _, sub := range re.Sub {
			n := maxRunes(sub)
			if n < 0 {
				return -1
			}
			total += n
		}
		return total
	case syntax.OpAlternate:
		most := 0
		for _, sub := range re.Sub {
			n := maxRunes(sub)
			if n < 0 {
				return -1
			}
			most = max(most, n)
		}
		return most
	}
	return -1
}

// needed is what the analysis knows of the texts a node matches, all
// lower-cased: exact is every text it can match, prefix a set one of
// which begins every match (nil: unknown), and any a set of which every
// match holds one and each of which holds a keyword (nil: none known).
type needed struct {
	exact, prefix, any []string
}

const maxNeeded = 256

func required(re *syntax.Regexp, kw []string) needed {
	exact := func(set []string) needed {
		n := needed{exact: set, prefix: set}
		if anchored(set, kw) {
			n.any = set
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return exact([]string{strings.ToLower(string(re.Rune))})
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] > 8 {
				return needed{prefix: []string{""}}
			}
			for c := re.Rune[i]; c <= re.Rune[i+1]; c++ {
				set = appendNew(set, strings.ToLower(string(c)))
			}
		}
		return exact(set)
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return needed{exact: []string{""}, prefix: []string{""}}
	case syntax.OpCapture:
		return required(re.Sub[0], kw)
	case syntax.OpQuest:
		n := required(re.Sub[0], kw)
		if n.exact != nil {
			return exact(appendNew(n.exact, ""))
		}
	case syntax.OpPlus:
		n := required(re.Sub[0], kw)
		return needed{prefix: n.prefix, any: n.any}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			n := required(re.Sub[0], kw)
			return needed{prefix: n.prefix, any: n.any}
		}
	case syntax.OpAlternate:
		var out needed
		isExact, isPrefix, isAny := true, true, true
		for _, sub := range re.Sub {
			n := required(sub, kw)
			isExact, isPrefix, isAny = isExact && n.exact != nil, isPrefix && n.prefix != nil, isAny && n.any != nil
			out.exact = append(out.exact, n.exact...)
			out.prefix = append(out.prefix, n.prefix...)
			out.any = append(out.any, n.any...)
		}
		if !isExact {
			out.exact = nil
		}
		if !isPrefix {
			out.prefix = nil
		}
		if !isAny {
			out.any = nil
		}
		return out
	case syntax.OpConcat:
		return concatNeeded(re.Sub, kw)
	}
	return needed{prefix: []string{""}}
}

// concatNeeded joins runs of exactly known parts, and a run with the
// prefix of the part after it (so "A" then "3T[A-Z0-9]|KIA" holds "a3t"
// or "akia"), and keeps a requirement that holds keywords.
func concatNeeded(subs []*syntax.Regexp, kw []string) needed {
	out := needed{}
	run := []string{""}
	leading := true
	consider := func(set []string) {
		if out.any == nil && anchored(set, kw) {
			out.any = set
		}
	}
	for _, sub := range subs {
		n := required(sub, kw)
		if n.exact != nil && len(run)*len(n.exact) <= maxNeeded {
			run = cross(run, n.exact)
			continue
		}
		consider(n.any)
		if n.prefix != nil && len(run)*len(n.prefix) <= maxNeeded {
			joined := cross(run, n.prefix)
			consider(joined)
			if leading {
				out.prefix = joined
			}
		} else {
			consider(run)
			if leading {
				out.prefix = run
			}
		}
		leading = false
		run = []string{""}
		if n.exact != nil {
			run = n.exact
		}
	}
	consider(run)
	if leading {
		out.exact, out.prefix = run, run
	}
	return out
}

func cross(a, b []string) []string {
	var joined []string
	for _, x := range a {
		for _, y := range b {
			joined = appendNew(joined, x+y)
		}
	}
	return joined
}

// anchored tells whether every text of set holds a keyword.
func anchored(set []string, kw []string) bool {
	if set == nil {
		return false
	}
	for _, s := range set {
		if !holdsKeyword(s, kw) {
			return false
		}
	}
	return true
}

func appendNew(set []string, s string) []string {
	for _, t := range set {
		if t == s {
			return set
		}
	}
	return append(set, s)
}
