package egress

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The process tests run the real `bottle egress` (cmd/bottle holds its
// flags, signals and exit codes): a bottle binary built once per test run,
// quick with go's build cache, and removed after.
func TestMain(m *testing.M) {
	code := m.Run()
	if bottleDir != "" {
		os.RemoveAll(bottleDir)
	}
	os.Exit(code)
}

var bottleDir string

var buildBottle = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "egress-test-bottle")
	if err != nil {
		return "", err
	}
	bottleDir = dir
	bin := filepath.Join(dir, "bottle")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/bottle-sh/bottle/cmd/bottle").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/bottle: %v\n%s", err, out)
	}
	return bin, nil
})

// bottleEgress is the command `bottle egress args...`.
func bottleEgress(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := buildBottle()
	if err != nil {
		t.Fatal(err)
	}
	return exec.CommandContext(ctx, bin, append([]string{"egress"}, args...)...)
}

// proc is a running `bottle egress` process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	url            *url.URL
	routes         string
	tp             *testProxy // world, CAs and a client config, no in-process proxy
	exited         chan error // receives Wait's result once
	done           chan struct{}
}

func startProcess(t *testing.T, routes string, extra ...string) *proc {
	t.Helper()
	w := newWorld(t)
	ca, caDir := newTestCA(t, "bottle test CA")
	dir := t.TempDir()
	file := filepath.Join(dir, "routes.yaml")
	os.WriteFile(file, []byte(routes), 0o644)
	// The upstream CA is the process's whole trust store: SSL_CERT_FILE.
	roots := filepath.Join(dir, "roots.pem")
	os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.upstreamCA.cert.Raw}), 0o644)
	args := append([]string{"--routes", file, "--listen", "127.0.0.1:0", "--ca", caDir}, extra...)
	for from, to := range w.addrs {
		args = append(args, "--resolve", from+"="+to)
	}
	p := &proc{cmd: bottleEgress(t, context.Background(), args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, routes: file, exited: make(chan error, 1), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+roots, "SSL_CERT_DIR=/nonexistent", "TEST_API_KEY="+testSecret)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("stderr:\n%s", p.stderr)
		}
	})
	m := p.waitLog(t, regexp.MustCompile(`egress: listening on (\S+)`), 1)
	p.url = &url.URL{Scheme: "http", Host: m[1]}
	p.tp = &testProxy{url: p.url, ca: ca, world: w}
	return p
}

// waitLog waits until pattern has matched n lines of stderr and returns the
// submatches of the nth.
func (p *proc) waitLog(t *testing.T, pattern *regexp.Regexp, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := pattern.FindAllStringSubmatch(p.stderr.String(), -1)
		if len(all) >= n {
			return all[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d lines matching %q in stderr:\n%s", n, pattern, p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// writeInPlace writes the routes file as the host does: same inode,
// truncated then written.
func (p *proc) writeInPlace(t *testing.T, text string) {
	t.Helper()
	f, err := os.OpenFile(p.routes, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

var loaded = regexp.MustCompile(`egress: loaded (\d+) route\(s\)`)

func TestProcessReloadAndTerm(t *testing.T) {
	p := startProcess(t, testRoutes)
	p.waitLog(t, loaded, 1)
	c := p.tp.client(t)
	status := func(u string) int {
		resp, _ := get(t, c, "GET", u)
		if resp == nil {
			return 0
		}
		return resp.StatusCode
	}
	if s := status("http://plain.example.test/"); s != 200 {
		t.Fatalf("before reload: %d", s)
	}
	if s := status("https://api.example.test/v1/models"); s != 200 {
		t.Fatalf("intercepted, upstream trusted through SSL_CERT_FILE: %d", s)
	}

	p.writeInPlace(t, "routes:\n  - host: evil.test\n    private: true\n  - host: plain.example.test\n    private: true\n    methods: [GET]\n")
	p.signal(t, syscall.SIGHUP)
	if m := p.waitLog(t, loaded, 2); m[1] != "2" {
		t.Fatalf("reload loaded %s routes, want 2", m[1])
	}
	if s := status("http://evil.test/"); s != 200 {
		t.Errorf("added route: %d", s)
	}
	if s := status("http://a.wild.test/"); s != 403 {
		t.Errorf("removed route: %d", s)
	}

	// A partial file, as a reader can see it while the host writes.
	p.writeInPlace(t, "routes:\n  - host: evil.test\n    private: true\n  - host: plain.exa")
	p.signal(t, syscall.SIGHUP)
	m := p.waitLog(t, regexp.MustCompile(`egress: reload failed: (.*); keeping (\d+) route\(s\)`), 1)
	if m[2] != "2" || !strings.Contains(m[1], p.routes) || !strings.Contains(m[1], "line 4") {
		t.Errorf("reload failure line: %q", m[0])
	}
	if s := status("http://plain.example.test/"); s != 200 {
		t.Errorf("old routes after a rejected reload: %d", s)
	}
	if s := status("http://evil.test/"); s != 200 {
		t.Errorf("old routes after a rejected reload: %d", s)
	}

	c.CloseIdleConnections()
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5s after SIGTERM")
	}
	t.Logf("exited 0 %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	out := p.stdout.String() + p.stderr.String()
	if strings.Contains(out, testSecret) {
		t.Error("the injected secret reached the process output")
	}
	if n := strings.Count(p.stdout.String(), "\n"); n < 7 {
		t.Errorf("%d access-log lines, want one per request:\n%s", n, p.stdout)
	}
}

// SIGTERM with a tunnel open and busy: exit 0 anyway, within a few seconds.
func TestProcessTermWithOpenTunnel(t *testing.T) {
	p := startProcess(t, testRoutes)
	p.waitLog(t, loaded, 1)
	c := p.tp.client(t) // keep-alive: the tunnel stays open
	if resp, body := get(t, c, "GET", "https://tunnel.example.test/"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("%v %s", resp, body)
	}
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("still running 8s after SIGTERM")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to exit", d)
	}
}

// 200 clients keep requesting hosts that every version of the routes
// allows while the routes are rewritten in place and reloaded 50 times.
func TestProcessConcurrentReloads(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	p := startProcess(t, testRoutes)
	p.waitLog(t, loaded, 1)
	alt := testRoutes + "  - host: evil.test\n    private: true\n"
	tr := p.tp.client(t).Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 200
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	var stop atomic.Bool
	var ok, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	urls := []string{"http://plain.example.test/p", "https://api.example.test/v1/m", "https://tunnel.example.test/t", "http://a.wild.test/w"}
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := urls[i%len(urls)]
			for n := 0; n == 0 || !stop.Load(); n++ {
				resp, err := c.Get(u)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("%s: status %d", u, resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { t.Errorf("first failure: %v", err) })
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	for i := range 50 {
		text, want := testRoutes, "4"
		if i%2 == 0 {
			text, want = alt, "5"
		}
		p.writeInPlace(t, text)
		p.signal(t, syscall.SIGHUP)
		if m := p.waitLog(t, loaded, i+2); m[1] != want {
			t.Fatalf("reload %d loaded %s routes, want %s", i+1, m[1], want)
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d requests ok, %d failed, across 50 reloads", ok.Load(), failed.Load())
	if failed.Load() > 0 || ok.Load() < 200 {
		t.Fatalf("%d failed, %d ok", failed.Load(), ok.Load())
	}
	if strings.Contains(p.stderr.String(), "reload failed") {
		t.Errorf("a complete file was rejected:\n%s", p.stderr)
	}
}
