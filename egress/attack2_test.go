package egress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Attack (issue 12 review): an agent's request must not carry terminal
// control sequences to the operator. `bottle requests` prints a request's
// paths raw (only the reason is quoted), so an ESC in a path can rewrite
// the operator's screen: erase the line and draw another host.
func TestAttackAskRefusesControlCharactersInPaths(t *testing.T) {
	tp := startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) { c.StateDir = t.TempDir() })
	for _, p := range []string{
		`/x\u001b[2K\u001b[1Gr0000000000\u001b[3Cdocs.example.org`, // ESC: erase the line, redraw it
		`/x\u0008\u0008\u0008`, // backspaces
		`/x\u009b2K`,           // C1 CSI
		`/x\u202e`,             // right-to-left override
	} {
		status, body := agentDo(t, tp, "POST", "/v1/requests", `{"host":"a.example.com","reason":"x","paths":["`+p+`"]}`)
		if status != 400 {
			t.Errorf("path %s: %d %s, want 400 (a path prefix is printable ASCII)", p, status, body)
		}
	}
}

// Attack: an agent may ask for a wildcard over a shared registrable
// suffix (every GitHub Pages site, every S3 bucket, every Workers app):
// hosts anyone can publish on, so an approval is an exfiltration channel
// although the operator reads "github.io". Asks should name one host.
func TestAttackAskRefusesWildcards(t *testing.T) {
	tp := startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) { c.StateDir = t.TempDir() })
	for _, h := range []string{"*.github.io", "*.s3.amazonaws.com", "*.workers.dev", "*.example.com"} {
		status, body := agentDo(t, tp, "POST", "/v1/requests", `{"host":"`+h+`","reason":"docs"}`)
		if status != 400 {
			t.Errorf("ask for %s: %d %s, want 400", h, status, body)
		}
	}
}

// Attack (fails closed): approve replaces a used-up grant for a host with a
// new one. With --uses N and no --for, the new route's grant key (host,
// "never", N) is the old one's, so the count carries over and the fresh
// approval is used up from the start, although `bottle approve` printed
// "approved ... (1 use(s))" and the agent was told approved.
func TestAttackReapprovalWithSameUsesStartsUsedUp(t *testing.T) {
	dir := t.TempDir()
	first := "routes:\n  - host: plain.example.test\n    private: true\n    uses: 1\n    grant: r0000000001\n"
	tp := startProxyWith(t, first, newWorld(t), "127.0.0.1:0", func(c *Config) { c.StateDir = dir })
	if resp, body := get(t, tp.client(t), "GET", "http://plain.example.test/"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("first grant's use: %v %s", resp, body)
	}
	// What approve.star writes for a second request approved --uses 1: the
	// old grant dropped, the new one added (here with paths, as a second
	// request that asked for /v2/ would be).
	second := "routes:\n  - host: plain.example.test\n    private: true\n    paths: [\"/v2/\"]\n    uses: 1\n    grant: r0000000002\n"
	if err := os.WriteFile(tp.routes, []byte(second), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tp.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, tp.client(t), "GET", "http://plain.example.test/v2/x")
	if resp == nil || resp.StatusCode != 200 {
		data, _ := os.ReadFile(filepath.Join(dir, UsesFile))
		t.Errorf("the new grant's first use: %v %s (uses.json %s)", resp.StatusCode, strings.TrimSpace(body), data)
	}
}

// Attack: ReadRequests is what the host runs (`bottle requests`, and
// `bottle approve`/`deny` to find a request's bottle, which then live for
// seconds while the recipe waits for the reload). When answers.jsonl holds
// an answer the egress has not applied yet (it saves 200ms after a
// reload), ReadRequests arms the book's save timer, and the host process
// rewrites requests.json in the egress's directory from its stale copy, as
// the operator (root, when bottle runs as root), through a requests.json.tmp
// the egress's uid may have planted as a symlink.
func TestAttackReadRequestsDoesNotWrite(t *testing.T) {
	dir := t.TempDir()
	reqs := `[{"id":"r0000000001","kind":"asked","host":"a.example.com","reason":"x","count":1,"first":"2026-11-30T21:00:00Z","last":"2026-11-30T21:00:00Z","status":"pending"}]` + "\n"
	if err := os.WriteFile(filepath.Join(dir, RequestsFile), []byte(reqs), 0o644); err != nil {
		t.Fatal(err)
	}
	answer(t, dir, Answer{ID: "r0000000001", Decision: "denied", Time: "2026-11-30T21:01:00Z"})
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.Symlink(victim, filepath.Join(dir, RequestsFile+".tmp")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRequests(dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * saveDelay)
	if data, _ := os.ReadFile(filepath.Join(dir, RequestsFile)); string(data) != reqs {
		t.Errorf("ReadRequests rewrote requests.json:\n%s", data)
	}
	if _, err := os.Stat(victim); err == nil {
		t.Errorf("ReadRequests wrote through a planted requests.json.tmp symlink to %s", victim)
	}
}

// The egress's own state writes (uses.json, requests.json) never follow a
// symlink planted at their temporary file.
func TestWriteStateIgnoresPlantedTmpSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.Symlink(victim, filepath.Join(dir, UsesFile+".tmp")); err != nil {
		t.Fatal(err)
	}
	if err := writeState(filepath.Join(dir, UsesFile), []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(victim); err == nil {
		t.Errorf("writeState wrote through a planted %s.tmp symlink", UsesFile)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, UsesFile)); string(data) != "{}\n" {
		t.Errorf("%s = %q, want {}", UsesFile, data)
	}
}
