package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sh/bottle/egress"
	"github.com/bottle-sh/bottle/egress/routes"
)

// Attack (issue 12 review): `bottle requests` prints a request's paths and
// host raw; requests.json is the egress's, made of what the agent sent. An
// ESC there redraws the operator's terminal (another host, another bottle's
// row), so the operator approves an id they did not mean. Every field the
// agent chose must reach the terminal without control characters.
func TestAttackRequestsOutputHasNoControlCharacters(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "demo", "egress")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	reqs := `[{"id":"rdeadbeef01","kind":"asked","host":"evil.example.net","paths":["/\u001b[2K\u001b[1Grxxxxxxxxxx\u001b[2Cdocs.python.org\u009b"],"reason":"r","count":1,"first":"2026-11-30T21:00:00Z","last":"2026-11-30T21:00:00Z","status":"pending"}]`
	if err := os.WriteFile(filepath.Join(dir, "requests.json"), []byte(reqs), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := runRequests([]string{"--state", root}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if i := strings.IndexFunc(out.String(), func(r rune) bool { return r < ' ' && r != '\n' || r >= 0x7f && r < 0xa0 }); i >= 0 {
		t.Errorf("bottle requests printed a control character at byte %d: %q", i, out.String())
	}
}

// bottle routes suggest's output is YAML the operator pastes into routes:
// a field from requests.json with a newline or an ESC must not start a
// line of its own or reach the terminal raw.
func TestSuggestQuotesControlCharacters(t *testing.T) {
	reqs := []egress.AccessRequest{
		{Kind: "denied", Status: "pending", Host: "evil\x1b[2K.example.net", Reason: "no route", Count: 1},
		{Kind: "denied", Status: "pending", Host: "a.example.net", Paths: []string{"/x\n  - host: \"*\""}, Methods: []string{"GET"}, Reason: "port\n  - host: all.example", Count: 1},
	}
	out := suggestRoutes(&routes.Routes{}, reqs)
	if i := strings.IndexFunc(out, func(r rune) bool { return r < ' ' && r != '\n' || r >= 0x7f && r < 0xa0 }); i >= 0 {
		t.Errorf("suggest printed a control character at byte %d: %q", i, out)
	}
	for _, line := range strings.Split(out, "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "- host: ") && !strings.HasPrefix(l, "paths: [") && !strings.HasPrefix(l, "methods: [") {
			t.Errorf("a field started a line of its own: %q in\n%s", line, out)
		}
	}
}
