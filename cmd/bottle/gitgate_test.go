package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGitGateFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("remotes:\n  - name: origin\n    url: git@github.com:acme/app.git\n    push: [\"refs/heads/agent/*\"]\n"), 0o600)
	os.WriteFile(bad, []byte("remotes:\n  - name: origin\n    url: git@github.com:acme/app.git\n    max_psuh: 1MiB\n"), 0o600)
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"--check", good}, exitOK, good + ": 1 remote(s)", ""},
		{[]string{"--check", bad}, exitFailed, "", bad + ": line 4: max_psuh: unknown key (did you mean max_push?)"},
		{[]string{"--policy", good}, exitUsage, "", "--clients CIDR is required"},
		{[]string{"--clients", "10.0.0.0/33", "--policy", good}, exitUsage, "", `--clients "10.0.0.0/33"`},
		// A bad policy stops the gate before it listens, naming file and line.
		{[]string{"--clients", "127.0.0.0/8", "--listen", "127.0.0.1:0", "--policy", bad}, exitFailed, "", bad + ": line 4: max_psuh"},
		{[]string{"--clients", "127.0.0.0/8", "extra"}, exitUsage, "", `unexpected argument "extra"`},
	} {
		var out, errb bytes.Buffer
		code := gitGateMain(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("git-gate %v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out, tc.err)
		}
	}
}
