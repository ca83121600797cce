package yamlhint

import (
	"errors"
	"testing"
)

func TestTab(t *testing.T) {
	token := errors.New("yaml: line 2: found character that cannot start any token")
	if err := Tab("routes:\n\t- host: a\n", token); err == nil || err.Error() != "line 2: YAML does not allow tabs for indentation; indent this line with spaces" {
		t.Errorf("tab before a list item: %v", err)
	}
	if err := Tab("a: 1\nb:\n  c: 2\n\t d: 3\n", errors.New("yaml: line 3: found a tab character that violates indentation")); err == nil || err.Error()[:7] != "line 4:" {
		t.Errorf("the tab's own line: %v", err)
	}
	if err := Tab("a: `x`\n", token); err != nil {
		t.Errorf("no tab, the parser's error stands: %v", err)
	}
	if err := Tab("a:\n\tb: 1\n", errors.New("yaml: line 1: mapping values are not allowed")); err != nil {
		t.Errorf("another error: %v", err)
	}
}
