package gitserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// start serves a bare repository app.git under a fresh root and returns the
// server and a GIT_SSH_COMMAND that reaches it with the authorised key.
func start(t *testing.T) (*Server, string, string) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "repos")
	run(t, dir, "git", "init", "-q", "--bare", "-b", "main", filepath.Join(root, "app.git"))
	hostKey, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	client, clientPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{Root: root, Authorized: client.PublicKey(), HostKey: hostKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	keyFile := filepath.Join(dir, "key")
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, clientPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(known, []byte(s.KnownHosts()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sshCmd := "ssh -F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + known + " -i " + keyFile
	return s, sshCmd, dir
}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitCmd(dir, "", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func gitCmd(dir, sshCmd string, args ...string) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	if sshCmd != "" {
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND="+sshCmd)
	}
	return cmd
}

func TestPushAndClone(t *testing.T) {
	s, sshCmd, dir := start(t)
	_, port, _ := strings.Cut(s.Addr, ":")
	url := "ssh://git@127.0.0.1:" + port + "/app.git"
	work := filepath.Join(dir, "work")
	run(t, dir, "git", "init", "-q", "-b", "main", work)
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("hello\n"), 0o644)
	run(t, work, "git", "add", ".")
	run(t, work, "git", "commit", "-qm", "one")
	if out, err := gitCmd(work, sshCmd, "git", "push", url, "main").CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	head := strings.TrimSpace(run(t, work, "git", "rev-parse", "HEAD"))
	if got := strings.TrimSpace(run(t, dir, "git", "--git-dir", filepath.Join(dir, "repos/app.git"), "rev-parse", "refs/heads/main")); got != head {
		t.Fatalf("upstream main = %s, want %s", got, head)
	}
	clone := filepath.Join(dir, "clone")
	if out, err := gitCmd(dir, sshCmd, "git", "clone", "-q", url, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(clone, "a.txt")); string(b) != "hello\n" {
		t.Errorf("clone has a.txt = %q", b)
	}
	// A second commit fetched into the clone: haves the server holds.
	os.WriteFile(filepath.Join(work, "b.txt"), []byte("two\n"), 0o644)
	run(t, work, "git", "add", ".")
	run(t, work, "git", "commit", "-qm", "two")
	if out, err := gitCmd(work, sshCmd, "git", "push", url, "main").CombinedOutput(); err != nil {
		t.Fatalf("push 2: %v\n%s", err, out)
	}
	if out, err := gitCmd(clone, sshCmd, "git", "pull", "-q").CombinedOutput(); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(clone, "b.txt")); string(b) != "two\n" {
		t.Errorf("pull brought b.txt = %q", b)
	}
}

func TestRefusals(t *testing.T) {
	s, sshCmd, dir := start(t)
	_, port, _ := strings.Cut(s.Addr, ":")
	for _, repo := range []string{"/../etc.git", "/missing.git"} {
		out, err := gitCmd(dir, sshCmd, "git", "ls-remote", "ssh://git@127.0.0.1:"+port+repo).CombinedOutput()
		if err == nil {
			t.Errorf("%s: ls-remote worked: %s", repo, out)
		}
	}
	// Another key is not let in.
	other, otherPEM, _ := GenerateKey()
	_ = other
	os.WriteFile(filepath.Join(dir, "other"), otherPEM, 0o600)
	cmd := strings.Replace(sshCmd, filepath.Join(dir, "key"), filepath.Join(dir, "other"), 1)
	if out, err := gitCmd(dir, cmd, "git", "ls-remote", "ssh://git@127.0.0.1:"+port+"/app.git").CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("another key: %v %s", err, out)
	}
	// A shell command is not run.
	if _, _, err := parseCommand("sh -c id"); err == nil {
		t.Error("sh ran")
	}
	var _ gossh.PublicKey = s.HostKey
}

// A fetch with many haves: git sends them in rounds with flushes and
// waits for a NAK after each, which the server must send.
func TestFetchManyHaves(t *testing.T) {
	s, sshCmd, dir := start(t)
	_, port, _ := strings.Cut(s.Addr, ":")
	url := "ssh://git@127.0.0.1:" + port + "/app.git"
	work := filepath.Join(dir, "work")
	run(t, dir, "git", "init", "-q", "-b", "main", work)
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("a\n"), 0o644)
	run(t, work, "git", "add", ".")
	run(t, work, "git", "commit", "-qm", "base")
	if out, err := gitCmd(work, sshCmd, "git", "push", url, "main").CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	clone := filepath.Join(dir, "clone")
	if out, err := gitCmd(dir, sshCmd, "git", "clone", "-q", url, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	for i := range 80 {
		run(t, clone, "git", "commit", "-q", "--allow-empty", "-m", "local "+string(rune('a'+i%26)))
	}
	os.WriteFile(filepath.Join(work, "b.txt"), []byte("b\n"), 0o644)
	run(t, work, "git", "add", ".")
	run(t, work, "git", "commit", "-qm", "upstream moves")
	if out, err := gitCmd(work, sshCmd, "git", "push", url, "main").CombinedOutput(); err != nil {
		t.Fatalf("push 2: %v\n%s", err, out)
	}
	cmd := gitCmd(clone, sshCmd, "git", "-c", "protocol.version=0", "fetch", "-q", "origin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fetch with 80 local commits: %v\n%s", err, out)
	}
	want := strings.TrimSpace(run(t, work, "git", "rev-parse", "HEAD"))
	if got := strings.TrimSpace(run(t, clone, "git", "rev-parse", "origin/main")); got != want {
		t.Errorf("origin/main = %s, want %s", got, want)
	}
}
