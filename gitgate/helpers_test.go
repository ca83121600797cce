package gitgate

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bottle-sh/bottle/internal/gitserver"
)

// world is one test's upstream (internal/gitserver over SSH on loopback,
// holding app.git with one commit on main), the gate in front of it, and a
// home for the agent's git.
type world struct {
	t        *testing.T
	dir      string
	upstream *gitserver.Server
	bare     string // the upstream's app.git on disk
	gate     *Gate
	gateURL  string // http://127.0.0.1:PORT
	policy   string // the policy file
	records  *syncBuffer
	audit    string
	keyFile  string
	known    string
	sshURL   string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines are the JSON lines written so far, decoded.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("record %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func needGit(t testing.TB) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git CLI")
	}
}

// newWorld starts the upstream and the gate with a policy made by
// policyFor(sshURL).
func newWorld(t *testing.T, policyFor func(url string) string) *world {
	t.Helper()
	needGit(t)
	w := &world{t: t, dir: t.TempDir(), records: &syncBuffer{}}
	root := filepath.Join(w.dir, "upstream")
	w.bare = filepath.Join(root, "app.git")
	w.git(w.dir, "init", "-q", "--bare", "-b", "main", w.bare)
	seed := filepath.Join(w.dir, "seed")
	w.git(w.dir, "init", "-q", "-b", "main", seed)
	w.commit(seed, "README", "hello\n", "first")
	w.git(seed, "push", "-q", w.bare, "main")

	hostKey, _, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	client, clientPEM, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	w.upstream, err = gitserver.Start(gitserver.Config{Root: root, Authorized: client.PublicKey(), HostKey: hostKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.upstream.Close() })
	_, port, _ := net.SplitHostPort(w.upstream.Addr)
	w.sshURL = "ssh://git@127.0.0.1:" + port + "/app.git"
	w.keyFile = filepath.Join(w.dir, "key")
	w.known = filepath.Join(w.dir, "known_hosts")
	w.write(w.keyFile, string(clientPEM))
	w.write(w.known, w.upstream.KnownHosts()+"\n")
	w.policy = filepath.Join(w.dir, "policy.yaml")
	w.write(w.policy, policyFor(w.sshURL))
	w.audit = filepath.Join(w.dir, "audit.jsonl")
	w.gate, err = New(Config{PolicyFile: w.policy, KeyFile: w.keyFile, KnownHostsFile: w.known, Records: w.records, AuditFile: w.audit})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go w.gate.Serve(ln)
	w.gateURL = "http://" + ln.Addr().String()
	return w
}

func (w *world) write(file, content string) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// gitCmd is the agent's git: no system or user config, no proxy, no
// prompts.
func (w *world) gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	env := []string{"HOME=" + w.dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LANG=C", "PATH=" + os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=agent", "GIT_AUTHOR_EMAIL=agent@bottle", "GIT_COMMITTER_NAME=agent", "GIT_COMMITTER_EMAIL=agent@bottle"}
	cmd.Env = env
	return cmd
}

// git runs git and fails the test if it fails.
func (w *world) git(dir string, args ...string) string {
	w.t.Helper()
	out, err := w.gitCmd(dir, args...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gitFails runs git, fails the test if it succeeds, and returns its output.
func (w *world) gitFails(dir string, args ...string) string {
	w.t.Helper()
	out, err := w.gitCmd(dir, args...).CombinedOutput()
	if err == nil {
		w.t.Fatalf("git %s worked, want a refusal:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

func (w *world) commit(dir, file, content, msg string) string {
	w.t.Helper()
	w.write(filepath.Join(dir, file), content)
	w.git(dir, "add", "-A")
	w.git(dir, "commit", "-q", "-m", msg)
	return strings.TrimSpace(w.git(dir, "rev-parse", "HEAD"))
}

// upstreamRef is what the upstream holds for ref, "" when it has none.
func (w *world) upstreamRef(ref string) string {
	out, err := w.gitCmd(w.dir, "--git-dir", w.bare, "rev-parse", "--verify", "-q", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// clone clones origin through the gate with protocol version v.
func (w *world) clone(name string, v int) string {
	w.t.Helper()
	dir := filepath.Join(w.dir, name)
	w.git(w.dir, "-c", "protocol.version="+string(rune('0'+v)), "clone", "-q", w.gateURL+"/origin", dir)
	return dir
}

func originPolicy(extra string) func(string) string {
	return func(url string) string {
		return "remotes:\n  - name: origin\n    url: " + url + "\n    push: [\"refs/heads/agent/*\", \"refs/tags/*\"]\n" + extra
	}
}
