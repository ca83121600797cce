// Package yamlhint turns the YAML parser's least helpful errors into ones
// that say what to fix, for every place bottle reads YAML (yaml.decode in
// builtins, the egress's routes parser).
package yamlhint

import (
	"fmt"
	"strings"
)

// Tab returns "line N: YAML does not allow tabs for indentation; ..." when
// err is the parser's complaint about a tab (it says "found a tab character
// that violates indentation" or, for a tab before "- ", "found character
// that cannot start any token", which reads like a hint about @ or `), and
// text has a line indented with one; else nil.
func Tab(text string, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "tab character") && !strings.Contains(msg, "cannot start any token") {
		return nil
	}
	for i, line := range strings.Split(text, "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") && strings.TrimSpace(line) != "" {
			return fmt.Errorf("line %d: YAML does not allow tabs for indentation; indent this line with spaces", i+1)
		}
	}
	return nil
}
