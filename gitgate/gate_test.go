package gitgate

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/time/rate"
)

func TestCloneAndFetch(t *testing.T) {
	for _, v := range []int{0, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			w := newWorld(t, originPolicy(""))
			clone := w.clone("agent", v)
			if b, _ := os.ReadFile(filepath.Join(clone, "README")); string(b) != "hello\n" {
				t.Fatalf("clone has README %q", b)
			}
			// The upstream moves on; the agent fetches what it lacks.
			seed := filepath.Join(w.dir, "seed")
			second := w.commit(seed, "NEWS", "two\n", "second")
			w.git(seed, "push", "-q", w.bare, "main")
			w.git(clone, "-c", fmt.Sprintf("protocol.version=%d", v), "pull", "-q")
			if got := strings.TrimSpace(w.git(clone, "rev-parse", "HEAD")); got != second {
				t.Errorf("after pull HEAD = %s, want %s", got, second)
			}
			if b, _ := os.ReadFile(filepath.Join(clone, "NEWS")); string(b) != "two\n" {
				t.Errorf("pull brought NEWS %q", b)
			}
			w.git(clone, "fsck", "--no-progress")
			fetches := 0
			for _, r := range w.records.lines(t) {
				if r["op"] == "fetch" && r["decision"] == "allow" && r["remote"] == "origin" {
					fetches++
				}
			}
			if fetches != 2 {
				t.Errorf("%d fetch records, want 2 (clone, pull):\n%s", fetches, w.records)
			}
		})
	}
}

func TestFetchRefused(t *testing.T) {
	w := newWorld(t, originPolicy("    fetch: false\n"))
	for _, v := range []string{"0", "2"} {
		out := w.gitFails(w.dir, "-c", "protocol.version="+v, "clone", "-q", w.gateURL+"/origin", filepath.Join(w.dir, "c"+v))
		if !strings.Contains(out, "bottle git gate: fetch is not allowed from origin (fetch: false)") {
			t.Errorf("v%s: git said:\n%s", v, out)
		}
	}
	out := w.gitFails(w.dir, "clone", "-q", w.gateURL+"/nosuch", filepath.Join(w.dir, "n"))
	if !strings.Contains(out, `no remote "nosuch" in the gate's policy (it has origin)`) {
		t.Errorf("unknown remote: git said:\n%s", out)
	}
}

func TestPushAllowedAndFastForward(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	clone := w.clone("agent", 2)
	w.git(clone, "checkout", "-q", "-b", "agent/work")
	one := w.commit(clone, "a.txt", "one\n", "one")
	w.git(clone, "push", "-q", "origin", "agent/work")
	if got := w.upstreamRef("refs/heads/agent/work"); got != one {
		t.Fatalf("upstream agent/work = %q, want %s", got, one)
	}
	two := w.commit(clone, "b.txt", "two\n", "two")
	w.git(clone, "push", "-q", "origin", "agent/work")
	if got := w.upstreamRef("refs/heads/agent/work"); got != two {
		t.Fatalf("after a fast-forward push upstream agent/work = %q, want %s", got, two)
	}
	var pushes []map[string]any
	for _, r := range w.records.lines(t) {
		if r["op"] == "push" {
			pushes = append(pushes, r)
		}
	}
	if len(pushes) != 2 || pushes[1]["decision"] != "allow" || pushes[1]["commits"].(float64) != 1 {
		t.Fatalf("push records: %v", pushes)
	}
	ref := pushes[1]["refs"].([]any)[0].(map[string]any)
	if ref["ref"] != "refs/heads/agent/work" || ref["old"] != one || ref["new"] != two {
		t.Errorf("push record refs: %v", ref)
	}
	audit, _ := os.ReadFile(w.audit)
	if n := strings.Count(string(audit), `"action":"git push"`); n != 2 || !strings.Contains(string(audit), `"decision":"allow"`) {
		t.Errorf("audit.jsonl holds %d git push lines:\n%s", n, audit)
	}
}

// refused asserts that git's output names the rule's reason and that
// nothing changed upstream.
func refused(t *testing.T, w *world, out, want string, refs map[string]string) {
	t.Helper()
	t.Logf("git said:\n%s", out)
	if !strings.Contains(out, "remote: bottle git gate: ") || !strings.Contains(out, want) {
		t.Errorf("git said:\n%s\nwant a remote: line with %q", out, want)
	}
	for ref, old := range refs {
		if got := w.upstreamRef(ref); got != old {
			t.Errorf("upstream %s = %q, want it unchanged (%q)", ref, got, old)
		}
	}
}

func TestPushRefusals(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	clone := w.clone("agent", 0)
	main := w.upstreamRef("refs/heads/main")
	w.commit(clone, "c.txt", "change\n", "on main")

	out := w.gitFails(clone, "push", "origin", "main")
	refused(t, w, out, "refs/heads/main: not in push patterns of origin (refs/heads/agent/*, refs/tags/*); ask the operator to add it", map[string]string{"refs/heads/main": main})
	if !strings.Contains(out, "[remote rejected] main -> main") {
		t.Errorf("git shows no rejected ref:\n%s", out)
	}

	// A branch the agent may push, then rewritten: a force push.
	w.git(clone, "push", "-q", "origin", "HEAD:refs/heads/agent/x")
	x := w.upstreamRef("refs/heads/agent/x")
	w.git(clone, "commit", "-q", "--amend", "-m", "rewritten")
	out = w.gitFails(clone, "push", "-f", "origin", "HEAD:refs/heads/agent/x")
	refused(t, w, out, "refs/heads/agent/x: not a fast-forward", map[string]string{"refs/heads/agent/x": x})
	if !strings.Contains(out, "force: false") {
		t.Errorf("the force refusal does not name the rule:\n%s", out)
	}

	out = w.gitFails(clone, "push", "origin", ":refs/heads/agent/x")
	refused(t, w, out, "refs/heads/agent/x: deleting refs is not allowed on origin (delete: false)", map[string]string{"refs/heads/agent/x": x})

	w.git(clone, "tag", "v1")
	out = w.gitFails(clone, "push", "origin", "v1")
	refused(t, w, out, "refs/tags/v1: tags are not allowed on origin (tags: false)", map[string]string{"refs/tags/v1": ""})

	// One refused ref refuses the whole push: agent/y does not land either.
	out = w.gitFails(clone, "push", "origin", "HEAD:refs/heads/agent/y", "HEAD:refs/heads/main")
	refused(t, w, out, "refs/heads/main: not in push patterns", map[string]string{"refs/heads/agent/y": "", "refs/heads/main": main})

	denies := 0
	for _, r := range w.records.lines(t) {
		if r["op"] == "push" && r["decision"] == "deny" {
			denies++
		}
	}
	if denies != 5 {
		t.Errorf("%d deny records, want 5:\n%s", denies, w.records)
	}
}

func TestPushTooLarge(t *testing.T) {
	w := newWorld(t, originPolicy("    max_push: 64KiB\n"))
	clone := w.clone("agent", 2)
	noise := make([]byte, 256<<10)
	rand.Read(noise)
	w.commit(clone, "noise.bin", hex.EncodeToString(noise), "big")
	out := w.gitFails(clone, "push", "origin", "HEAD:refs/heads/agent/big")
	refused(t, w, out, "the push is more than max_push of origin (65536 bytes)", map[string]string{"refs/heads/agent/big": ""})
}

func TestPushSecretRefused(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	clone := w.clone("agent", 2)
	secret := "ghp_" + "R4nd0mL00k1ngT0k3nF0rT3st1ngGate0123"
	w.commit(clone, "config/deploy.env", "# deploy settings\nREGION=eu-west-1\nGITHUB_TOKEN="+secret+"\n", "add config")
	out := w.gitFails(clone, "push", "origin", "HEAD:refs/heads/agent/leak")
	refused(t, w, out, "config/deploy.env:3", map[string]string{"refs/heads/agent/leak": ""})
	if strings.Contains(out, secret) || strings.Contains(w.records.String(), secret) {
		t.Errorf("the secret was echoed:\n%s\n%s", out, w.records)
	}
	audit, _ := os.ReadFile(w.audit)
	if strings.Contains(string(audit), secret) || !strings.Contains(string(audit), `"rule":"scan"`) {
		t.Errorf("audit: %s", audit)
	}
	// With scan off the same push goes through.
	w.write(w.policy, originPolicy("    scan: false\n")(w.sshURL))
	if err := w.gate.Reload(); err != nil {
		t.Fatal(err)
	}
	w.git(clone, "push", "-q", "origin", "HEAD:refs/heads/agent/leak")
}

func TestReload(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	clone := w.clone("agent", 2)
	w.commit(clone, "f.txt", "feature\n", "feature")
	out := w.gitFails(clone, "push", "origin", "HEAD:refs/heads/feature/x")
	refused(t, w, out, "not in push patterns", map[string]string{"refs/heads/feature/x": ""})

	// A new pattern takes effect without a restart.
	newPolicy := "remotes:\n  - name: origin\n    url: " + w.sshURL + "\n    push: [\"refs/heads/feature/*\"]\n"
	w.write(w.policy, newPolicy)
	if err := w.gate.Reload(); err != nil {
		t.Fatal(err)
	}
	w.git(clone, "push", "-q", "origin", "HEAD:refs/heads/feature/x")
	if w.upstreamRef("refs/heads/feature/x") == "" {
		t.Fatal("the push the new policy allows did not land")
	}
	sum := sha256.Sum256([]byte(newPolicy))
	if !strings.Contains(w.records.String(), `{"event":"policy_reload","hash":"`+hex.EncodeToString(sum[:])+`","remotes":1}`) {
		t.Errorf("no policy_reload line with the file's hash:\n%s", w.records)
	}

	// A bad file is refused and the policy in force stays.
	bad := "remotes:\n  - name: origin\n    url: " + w.sshURL + "\n    pushh: [\"refs/**\"]\n"
	w.write(w.policy, bad)
	err := w.gate.Reload()
	if err == nil || !strings.Contains(err.Error(), "line 4: pushh: unknown key (did you mean push?)") {
		t.Fatalf("bad policy: %v", err)
	}
	if !strings.Contains(w.records.String(), `"event":"policy_refused"`) {
		t.Errorf("no policy_refused line:\n%s", w.records)
	}
	w.commit(clone, "g.txt", "more\n", "more")
	w.git(clone, "push", "-q", "origin", "HEAD:refs/heads/feature/x")
	out = w.gitFails(clone, "push", "origin", "HEAD:refs/heads/agent/z")
	refused(t, w, out, "not in push patterns of origin (refs/heads/feature/*)", map[string]string{"refs/heads/agent/z": ""})

	// A partly written file (cut mid-line) is refused too.
	w.write(w.policy, newPolicy[:len(newPolicy)-5])
	if err := w.gate.Reload(); err == nil {
		t.Error("a cut policy file was taken")
	}
}

// An agent with many commits of its own fetches: the gate answers its
// first round of haves as ready and the upstream sends what is new.
func TestFetchManyHaves(t *testing.T) {
	for _, v := range []string{"0", "2"} {
		t.Run("v"+v, func(t *testing.T) {
			w := newWorld(t, originPolicy(""))
			clone := w.clone("agent", 2)
			for i := range 60 {
				w.commit(clone, "local.txt", fmt.Sprintf("%d\n", i), "local")
			}
			seed := filepath.Join(w.dir, "seed")
			want := w.commit(seed, "NEWS", "new\n", "upstream moves")
			w.git(seed, "push", "-q", w.bare, "main")
			w.git(clone, "-c", "protocol.version="+v, "fetch", "-q", "origin")
			if got := strings.TrimSpace(w.git(clone, "rev-parse", "origin/main")); got != want {
				t.Errorf("origin/main = %s, want %s", got, want)
			}
			w.git(clone, "fsck", "--no-progress")
		})
	}
}

// An empty upstream: the agent clones nothing and pushes its first branch.
func TestEmptyUpstream(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	os.RemoveAll(w.bare)
	w.git(w.dir, "init", "-q", "--bare", "-b", "main", w.bare)
	for _, v := range []int{0, 2} {
		dir := filepath.Join(w.dir, fmt.Sprintf("empty%d", v))
		out := w.git(w.dir, "-c", fmt.Sprintf("protocol.version=%d", v), "clone", w.gateURL+"/origin", dir)
		if !strings.Contains(out, "empty repository") {
			t.Errorf("v%d clone of an empty upstream said:\n%s", v, out)
		}
	}
	clone := filepath.Join(w.dir, "empty0")
	first := w.commit(clone, "a.txt", "a\n", "first")
	w.git(clone, "push", "-q", "origin", "HEAD:refs/heads/agent/first")
	if got := w.upstreamRef("refs/heads/agent/first"); got != first {
		t.Errorf("upstream agent/first = %q, want %s", got, first)
	}
}

// A push past git's http.postBuffer (1 MiB) comes chunked, after a probe.
func TestLargePush(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	clone := w.clone("agent", 2)
	noise := make([]byte, 2<<20)
	rand.Read(noise)
	big := w.commit(clone, "big.txt", hex.EncodeToString(noise), "big")
	w.git(clone, "push", "-q", "origin", "HEAD:refs/heads/agent/big")
	if got := w.upstreamRef("refs/heads/agent/big"); got != big {
		t.Errorf("upstream agent/big = %q, want %s", got, big)
	}
}

// With scan off, a push that only creates refs is walked, not parsed:
// the bounds hold and the record still counts its commits.
func TestCreateOnlyWithoutScan(t *testing.T) {
	w := newWorld(t, originPolicy("    scan: false\n    max_push: 64KiB\n"))
	clone := w.clone("agent", 2)
	w.commit(clone, "a.txt", "a\n", "a")
	b := w.commit(clone, "b.txt", "b\n", "b")
	w.git(clone, "push", "-q", "origin", "HEAD:refs/heads/agent/new")
	if got := w.upstreamRef("refs/heads/agent/new"); got != b {
		t.Fatalf("upstream agent/new = %q, want %s", got, b)
	}
	var last map[string]any
	for _, r := range w.records.lines(t) {
		if r["op"] == "push" {
			last = r
		}
	}
	if last["decision"] != "allow" || last["commits"].(float64) != 2 {
		t.Errorf("record: %v", last)
	}
	code, body := w.receivePack([]string{zeroID + " " + strings.Repeat("a", 40) + " refs/heads/agent/bomb"}, bombPack(t, 8<<20))
	if code != 200 || !strings.Contains(body, "refused as a pack bomb") {
		t.Errorf("bomb without scan: %d %q", code, body)
	}
}

// attack4: a live policy naming a token_env the gate's environment lacks
// (the gate gets only the variables start passed it) was taken, and the
// remote failed at its first use; it is refused, naming the variable, and
// the policy in force stays.
func TestReloadTokenMissing(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	const name = "BOTTLE_ATTACK4_NO_SUCH_TOKEN"
	live := "remotes:\n  - name: origin\n    url: " + w.sshURL + "\n  - name: docs\n    url: https://example.com/d.git\n    token_env: " + name + "\n"
	w.write(w.policy, live)
	err := w.gate.Reload()
	if err == nil || !strings.Contains(err.Error(), "token_env "+name+" of docs is not set in the gate's environment") {
		t.Fatalf("policy with a token the gate lacks: %v", err)
	}
	if !strings.Contains(w.records.String(), `"event":"policy_refused"`) {
		t.Errorf("no policy_refused line:\n%s", w.records)
	}
	if w.gate.Policy().Remote("docs") != nil {
		t.Error("the refused policy is in force")
	}
}

// An agent in a loop does not get the operator's key rate-limited by the
// host: past the gate's meter of upstream connections a fetch is refused,
// saying when to try again, and the upstream is not asked.
func TestUpstreamMeter(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	w.gate.upstreams.SetLimit(rate.Limit(2) / 60) // the gate serves already: no new limiter
	w.gate.upstreams.SetBurst(2)
	for range 2 { // each opens one connection to the upstream
		w.git(w.dir, "-c", "protocol.version=0", "ls-remote", w.gateURL+"/origin")
	}
	before := w.upstream.Served()
	out := w.gitFails(w.dir, "-c", "protocol.version=0", "ls-remote", w.gateURL+"/origin")
	if !strings.Contains(out, "over 2 connections to the upstreams in a minute") || !strings.Contains(out, "try again in") {
		t.Errorf("git said:\n%s", out)
	}
	if after := w.upstream.Served(); after != before {
		t.Errorf("the upstream had %d sessions before the refused fetch and %d after", before, after)
	}
}
