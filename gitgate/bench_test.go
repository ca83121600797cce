package gitgate

import (
	"runtime"
	"strings"

	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/zricethezav/gitleaks/v8/detect"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/internal/gitserver"
)

// benchWorld is a ~50 MB repository (100 files of 512 KiB of random hex,
// so the secret scan reads text) served by internal/gitserver over SSH on
// loopback, and the gate in front of it.
type benchWorld struct {
	dir, sshCmd, direct, gate, bare string
}

func newBenchWorld(b *testing.B) *benchWorld {
	needGit(b)
	if _, err := exec.LookPath("ssh"); err != nil {
		b.Skip("no ssh client for the direct comparison")
	}
	bw := &benchWorld{dir: b.TempDir()}
	root := filepath.Join(bw.dir, "upstream")
	bw.bare = filepath.Join(root, "app.git")
	run := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@b", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@b")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	seed := filepath.Join(bw.dir, "seed")
	run(bw.dir, "init", "-q", "-b", "main", seed)
	chunk := make([]byte, 256<<10)
	for i := range 100 {
		rand.Read(chunk)
		if err := os.WriteFile(filepath.Join(seed, fmt.Sprintf("data%03d.txt", i)), []byte(hex.EncodeToString(chunk)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	run(seed, "add", ".")
	run(seed, "commit", "-q", "-m", "50 MB")
	run(bw.dir, "init", "-q", "--bare", "-b", "main", bw.bare)
	run(seed, "push", "-q", bw.bare, "main")

	hostKey, _, _ := gitserver.GenerateKey()
	client, clientPEM, _ := gitserver.GenerateKey()
	srv, err := gitserver.Start(gitserver.Config{Root: root, Authorized: client.PublicKey(), HostKey: hostKey})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	key, known := filepath.Join(bw.dir, "key"), filepath.Join(bw.dir, "known_hosts")
	os.WriteFile(key, clientPEM, 0o600)
	os.WriteFile(known, []byte(srv.KnownHosts()+"\n"), 0o600)
	_, port, _ := net.SplitHostPort(srv.Addr)
	bw.direct = "ssh://git@127.0.0.1:" + port
	bw.sshCmd = "ssh -F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + known + " -i " + key
	pol := filepath.Join(bw.dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf("remotes:\n  - name: origin\n    url: %s/app.git\n    push: [\"refs/heads/**\"]\n    force: true\n    max_push: 200MiB\n  - name: target\n    url: %s/target.git\n    push: [\"refs/heads/**\"]\n    max_push: 200MiB\n  - name: target-noscan\n    url: %s/target.git\n    push: [\"refs/heads/**\"]\n    max_push: 200MiB\n    scan: false\n", bw.direct, bw.direct, bw.direct)), 0o600)
	g, err := New(Config{PolicyFile: pol, KeyFile: key, KnownHostsFile: known})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go g.Serve(ln)
	bw.gate = "http://" + ln.Addr().String()
	return bw
}

func (bw *benchWorld) git(b *testing.B, dir string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_SSH_COMMAND="+bw.sshCmd, "GIT_CONFIG_NOSYSTEM=1", "HOME="+bw.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// report puts each way's mean seconds per operation and its ratio to the
// direct way into the benchmark's output. The ways alternate within every
// iteration, so a machine shared with other work slows both alike.
func report(b *testing.B, took map[string]time.Duration, ways []string) {
	for _, w := range ways {
		b.ReportMetric(took[w].Seconds()/float64(b.N), w+"-s/op")
		if w != "direct" {
			b.ReportMetric(float64(took[w])/float64(took["direct"]), w+"/direct")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkClone clones the repository straight from the SSH server and
// through the gate (git smart HTTP to the gate, SSH from it), alternately.
func BenchmarkClone(b *testing.B) {
	bw := newBenchWorld(b)
	urls := map[string]string{"direct": bw.direct + "/app.git", "gate": bw.gate + "/origin"}
	ways := []string{"direct", "gate"}
	took := map[string]time.Duration{}
	for i := range b.N {
		for _, w := range ways {
			dir := filepath.Join(bw.dir, fmt.Sprintf("clone-%s-%d", w, i))
			took[w] += timed(func() { bw.git(b, bw.dir, "clone", "-q", urls[w], dir) })
			os.RemoveAll(dir)
		}
	}
	report(b, took, ways)
}

// BenchmarkPush pushes the whole repository into an empty upstream
// repository, straight and through the gate (which reads the pack, scans
// its blobs, or not, and forwards it), alternately.
func BenchmarkPush(b *testing.B) {
	bw := newBenchWorld(b)
	work := filepath.Join(bw.dir, "work")
	bw.git(b, bw.dir, "clone", "-q", bw.direct+"/app.git", work)
	target := filepath.Join(bw.dir, "upstream", "target.git")
	urls := map[string]string{"direct": bw.direct + "/target.git", "gate": bw.gate + "/target", "gate-noscan": bw.gate + "/target-noscan"}
	ways := []string{"direct", "gate", "gate-noscan"}
	took := map[string]time.Duration{}
	for range b.N {
		for _, w := range ways {
			os.RemoveAll(target)
			bw.git(b, bw.dir, "init", "-q", "--bare", "-b", "main", target)
			took[w] += timed(func() { bw.git(b, work, "push", "-q", urls[w], "main") })
		}
	}
	report(b, took, ways)
}

// BenchmarkScan is the secret scan's rate on real source (the Go tree's
// own .go files, about 20 MB) and on random hex (the push benchmark's
// content, the scanner's slow case), one core: "gate" is the gate's way
// (most rules on pieces of a blob), "whole" every rule on whole blobs
// (gitleaks' own way, and the gate's before).
func BenchmarkScan(b *testing.B) {
	s := &secretScanner{}
	if err := s.init(); err != nil {
		b.Fatal(err)
	}
	var source []string
	total := 0
	filepath.WalkDir(filepath.Join(runtime.GOROOT(), "src"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || total > 20<<20 {
			return nil
		}
		if data, err := os.ReadFile(path); err == nil {
			source = append(source, string(data))
			total += len(data)
		}
		return nil
	})
	chunk := make([]byte, 256<<10)
	var hexText []string
	for range 40 {
		rand.Read(chunk)
		hexText = append(hexText, hex.EncodeToString(chunk))
	}
	ways := map[string]func(string){
		"gate":  func(t string) { s.detect("f.go", t) },
		"whole": func(t string) { s.detector.Detect(detect.Fragment{Raw: t, FilePath: "f.go"}) },
	}
	for _, tc := range []struct {
		name  string
		texts []string
	}{{"go-source", source}, {"random-hex", hexText}} {
		for _, way := range []string{"gate", "whole"} {
			b.Run(tc.name+"/"+way, func(b *testing.B) {
				size := 0
				for _, t := range tc.texts {
					size += len(t)
				}
				b.SetBytes(int64(size))
				for range b.N {
					for _, t := range tc.texts {
						ways[way](t)
					}
				}
			})
		}
	}
}
