//go:build linux

package main

// bottle ui in a real headless Chromium (Debian's chromium, driven by
// chromedp), against a real bottle on the daemon: the operator's day in
// the browser. Screenshots of every page go to $BOTTLE_UI_SHOTS (or a
// directory of the test's, printed); a failing step says which, and
// leaves a screenshot named for it.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rogpeppe/go-internal/txtar"
)

// browser is one headless Chromium tab.
type browser struct {
	t     testing.TB
	ctx   context.Context
	shots string
	n     int
}

// chromiumPath is the browser to drive: $BOTTLE_CHROMIUM, else chromium
// on PATH. Without one the test skips, or fails under BOTTLE_REQUIRE_DOCKER=1
// (CI, whose .ci/run installs it).
func chromiumPath(tb testing.TB) string {
	path := os.Getenv("BOTTLE_CHROMIUM")
	if path == "" {
		path, _ = exec.LookPath("chromium")
	}
	if path == "" {
		if os.Getenv("BOTTLE_REQUIRE_DOCKER") == "1" {
			tb.Fatal("BOTTLE_REQUIRE_DOCKER=1 and no chromium on PATH (apt-get install chromium, or set BOTTLE_CHROMIUM)")
		}
		tb.Skip("no chromium on PATH (apt-get install chromium)")
	}
	return path
}

func newBrowser(tb testing.TB, width, height int) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(tb)),
		chromedp.WindowSize(width, height), chromedp.UserDataDir(tb.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	shots := os.Getenv("BOTTLE_UI_SHOTS")
	if shots == "" {
		shots = tb.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshots: %s", shots)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		tb.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: tb, ctx: ctx, shots: shots}
}

// step runs the actions of one step of the story; on failure it saves a
// screenshot named for the step and fails the test naming it.
func (b *browser) step(name string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot(name + "-FAILED")
		b.t.Fatalf("step %q: %v (screenshot in %s)", name, err, b.shots)
	}
}

// shot saves the page as it is now, numbered in the story's order.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.n++
	os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name)), png, 0o644)
}

// eval is a JavaScript expression's value in the page.
func eval[T any](b *browser, step, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.shot(step + "-FAILED")
		b.t.Fatalf("step %q: %s: %v", step, expr, err)
	}
	return v
}

// waitJS waits until expr is true in the page.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w (last error: %v)", expr, ctx.Err(), err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// jobDone is true on a job's page when the job is done, or on a refusal.
const jobDone = `document.getElementById("job-status")?.dataset.done === "true" || !!document.getElementById("refused")`

// jobStatus is what the job's page says of its end, or the refusal.
const jobStatus = `(document.getElementById("job-status") || document.getElementById("refused")).textContent`

// reloadUntil reloads the page until expr is true in it.
func reloadUntil(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("reloading until %s: %w (last error: %v)", expr, ctx.Err(), err)
			case <-time.After(300 * time.Millisecond):
			}
			chromedp.Reload()(ctx, t)
		}
	}
}

// unlabelled is JavaScript listing the page's controls a screen reader
// could not name: every input, button and select needs a label, an
// aria-label or its own text.
const unlabelled = `[...document.querySelectorAll("input:not([type=hidden]), button, select, textarea")]
	.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
	.map(e => e.outerHTML)`

// uiProcess is `bottle ui` running as its own process.
type uiProcess struct {
	cmd *exec.Cmd
	url string // with the token
}

// startUI runs bottle ui over the state root and reads the address it
// prints.
func startUI(t testing.TB, dir, root string) *uiProcess {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: []string{"bottle", "ui", "--state", root}, Dir: dir, Env: os.Environ(), Stderr: os.Stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &uiProcess{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "open "); ok {
			p.url = u
			break
		}
	}
	if p.url == "" {
		t.Fatal("bottle ui printed no address to open")
	}
	go io.Copy(io.Discard, out)
	return p
}

// base is the UI's address without the token.
func (p *uiProcess) base() string { u, _, _ := strings.Cut(p.url, "/?"); return u }

// uiStory is the browser test's bottle, its world and its UI.
type uiStory struct {
	*faults
	slug string
}

// bottle runs the bottle command with SLUG set (the scripts of the world
// read it) and returns its exit code and output.
func (s *uiStory) bottle(args ...string) (int, string) {
	var out lockedBuffer
	cmd := s.command(&out, args...)
	cmd.Stdout = &out
	cmd.Env = append(cmd.Env, "SLUG="+s.slug)
	return exitCode(s.t, cmd.Run()), out.String()
}

func (s *uiStory) must(args ...string) string {
	s.t.Helper()
	code, out := s.bottle(args...)
	if code != 0 {
		s.t.Fatalf("bottle %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// agentFetch is the agent fetching url through its egress.
func (s *uiStory) agentFetch(url string) (int, string) {
	return s.bottle("attach", s.slug, "--", "/bottle", "fetch", "--timeout", "10s", url)
}

// world writes loop_story's world.star (two upstream web servers on the
// bottle's bridge network) into the story's directory.
func (s *uiStory) world() {
	a, err := txtar.ParseFile(filepath.Join("..", "..", "testdata", "scripts", "loop_story.txtar"))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, f := range a.Files {
		if f.Name == "world.star" {
			if err := os.WriteFile(filepath.Join(s.dir, f.Name), f.Data, 0o644); err != nil {
				s.t.Fatal(err)
			}
			return
		}
	}
	s.t.Fatal("loop_story.txtar has no world.star")
}

// The operator's day in the browser: log in with the token, see the
// started bottle, watch a denial appear live, approve it, the agent's
// next request succeeds, deny another with a reason, stop the bottle and
// see it stopped; and nothing inside the bottle reaches the UI.
func TestUIBrowserStory(t *testing.T) {
	f := newFaults(t)
	chromiumPath(t)
	s := &uiStory{faults: f, slug: fmt.Sprintf("ui-%d", os.Getpid())}
	img := filepath.Join(f.dir, "img")
	if out, err := exec.Command("sh", filepath.Join("..", "..", "testdata", "images", "build.sh"), img).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	images, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "images"))
	s.must("run", filepath.Join(images, "build.star"), "out="+img)
	s.must("run", "start", "name="+s.slug)
	s.world()
	s.must("run", "world.star", "action=up")
	t.Cleanup(func() {
		s.bottle("run", "world.star", "action=down")
		s.bottle("run", "stop", "slug="+s.slug)
	})

	ui := startUI(t, f.dir, f.root)
	b := newBrowser(t, 1280, 800)
	page := ui.base() + "/b/" + s.slug
	row := `#bottle-` + s.slug

	b.step("log in with the token", 30*time.Second,
		chromedp.Navigate(ui.url),
		chromedp.WaitVisible(chromedp.CSS("#bottles")))
	b.shot("bottles")
	if loc := eval[string](b, "log in with the token", "location.href"); strings.Contains(loc, "token") {
		t.Errorf("after login the address still holds the token: %s", loc)
	}
	s.cookieStaysHome(b, ui)
	b.step("see the started bottle", 10*time.Second,
		waitJS(`document.querySelector("`+row+` .status")?.dataset.status === "running"`))
	if bad := eval[[]string](b, "labels on the bottles page", unlabelled); len(bad) > 0 {
		t.Errorf("the bottles page has controls without a label: %v", bad)
	}

	b.step("open the bottle, denials only", 20*time.Second,
		chromedp.Navigate(page+"?denied=1"),
		waitJS(`document.body.dataset.live === "open"`))
	if bad := eval[[]string](b, "labels on the bottle page", unlabelled); len(bad) > 0 {
		t.Errorf("the bottle page has controls without a label: %v", bad)
	}
	if code, out := s.agentFetch("http://upstream-b/first"); code == 0 || !strings.Contains(out, "403") {
		t.Fatalf("the agent's request to a host with no route: exit %d\n%s", code, out)
	}
	b.step("watch the denial appear live", 10*time.Second,
		waitJS(`[...document.querySelectorAll("#decision-table tbody tr.new")].some(r => r.textContent.includes("upstream-b") && r.textContent.includes("deny"))`))
	b.shot("denial-live")
	b.step("the new request is announced", 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS("#requests-changed")),
		chromedp.Click(chromedp.CSS("#requests-changed a")),
		waitJS(`[...document.querySelectorAll("article.request h3")].some(h => h.textContent.includes("upstream-b"))`))
	b.shot("request-pending")
	id := eval[string](b, "find the request", `[...document.querySelectorAll("article.request")].find(a => a.querySelector("h3").textContent.includes("upstream-b")).id.slice(4)`)

	// Approve for 10 minutes, private addresses allowed (the test's
	// upstreams are on a Docker network).
	b.step("approve it in the page", 120*time.Second,
		chromedp.Click(chromedp.CSS(`[id="`+id+`-t-for"]`)),
		chromedp.SetValue(chromedp.CSS(`[id="`+id+`-for"]`), "10m"),
		chromedp.Click(chromedp.CSS(`[id="`+id+`-private"]`)),
		chromedp.SetValue(chromedp.CSS(`[id="`+id+`-methods"]`), "GET"),
		chromedp.SetValue(chromedp.CSS(`[id="`+id+`-areason"]`), "ok for the test"),
		chromedp.Click(chromedp.CSS(`#req-`+id+` form.approve button[type=submit]`)),
		waitJS(jobDone))
	b.shot("approve-job")
	if st := eval[string](b, "approve it in the page", jobStatus); st != "Done." {
		t.Fatalf("step %q: the job says %q:\n%s", "approve it in the page", st, eval[string](b, "approve", `document.getElementById("job-lines").textContent`))
	}
	if lines := eval[string](b, "approve's step lines", `document.getElementById("job-lines").textContent`); !strings.Contains(lines, "approved "+id) || !strings.Contains(lines, "ok ") {
		t.Errorf("the approve job's page lacks the recipe's step lines and result:\n%s", lines)
	}
	if code, out := s.agentFetch("http://upstream-b/first"); code != 0 || !strings.Contains(out, "upstream-b") {
		t.Fatalf("step %q: the agent's next request: exit %d\n%s", "the agent's next request succeeds", code, out)
	}

	if code, _ := s.agentFetch("http://upstream-a/other"); code == 0 {
		t.Fatal("the agent reached upstream-a, which has no route")
	}
	b.step("deny another with a reason", 60*time.Second,
		chromedp.Navigate(page),
		reloadUntil(`[...document.querySelectorAll("article.request h3")].some(h => h.textContent.includes("upstream-a"))`))
	other := eval[string](b, "deny another with a reason", `[...document.querySelectorAll("article.request")].find(a => a.querySelector("h3").textContent.includes("upstream-a")).id.slice(4)`)
	b.step("deny another with a reason", 60*time.Second,
		chromedp.SetValue(chromedp.CSS(`[id="`+other+`-dreason"]`), "not needed for this task"),
		chromedp.Click(chromedp.CSS(`#req-`+other+` form.deny button[type=submit]`)),
		waitJS(jobDone))
	if st := eval[string](b, "deny another with a reason", jobStatus); st != "Done." {
		t.Fatalf("step %q: the job says %q", "deny another with a reason", st)
	}
	b.step("the bottle's page after the answers", 20*time.Second,
		chromedp.Navigate(page),
		waitJS(`document.querySelector("#history").textContent.includes("operator: not needed for this task")`),
		waitJS(`document.querySelector("#route-table")?.textContent.includes("upstream-b")`),
		waitJS(`!document.querySelector("#req-`+other+`") && !document.querySelector("#req-`+id+`")`))
	b.shot("bottle")
	b.step("a phone-sized viewport", 20*time.Second, chromedp.EmulateViewport(390, 844), chromedp.Reload())
	if w := eval[int](b, "a phone-sized viewport", "document.documentElement.scrollWidth"); w > 400 {
		t.Errorf("at 390 px wide the bottle page is %d px wide: it scrolls sideways", w)
	}
	b.shot("bottle-phone")

	s.unreachableFromInside(ui)
	s.must("run", "world.star", "action=down") // its servers are on the bottle's network: stop refuses

	b.step("the list on a phone", 20*time.Second,
		chromedp.EmulateViewport(390, 844), chromedp.Navigate(ui.base()+"/"), chromedp.WaitVisible(chromedp.CSS(row)))
	if w := eval[int](b, "the list on a phone", "document.documentElement.scrollWidth"); w > 400 {
		t.Errorf("at 390 px wide the list is %d px wide: it scrolls sideways", w)
	}
	b.shot("bottles-phone")
	// With the keyboard only: the button takes the focus and Enter presses it.
	b.step("stop the bottle from the page, with the keyboard", 300*time.Second,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(ui.base()+"/"),
		chromedp.Focus(chromedp.CSS(`button[aria-label="Stop `+s.slug+`"]`)),
		waitJS(`document.activeElement.getAttribute("aria-label") === "Stop `+s.slug+`"`),
		chromedp.KeyEvent("\r"),
		waitJS(jobDone))
	b.shot("stop-job")
	if st := eval[string](b, "stop the bottle from the page", jobStatus); st != "Done." {
		t.Fatalf("step %q: the job says %q:\n%s", "stop the bottle from the page", st, eval[string](b, "stop", `document.getElementById("job-lines").textContent`))
	}
	b.step("see it stopped", 20*time.Second,
		chromedp.Navigate(ui.base()+"/"),
		waitJS(`document.querySelector("`+row+` .status")?.dataset.status === "stopped"`))
	b.shot("stopped")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.ctx = ctx // the suite's own deadline may have passed on a loaded machine
	if left := f.objects(s.slug); len(left) > 0 {
		t.Errorf("after the stop from the page the daemon still holds %v", left)
	}

	// Started again from the page, as it was (its recorded engine, the
	// default bottle), with its live routes kept.
	b.step("start it again from the page", 300*time.Second,
		chromedp.Click(chromedp.CSS(`button[aria-label="Start `+s.slug+`"]`)),
		waitJS(jobDone))
	b.shot("start-job")
	if st := eval[string](b, "start it again from the page", jobStatus); st != "Done." {
		t.Fatalf("step %q: the job says %q:\n%s", "start it again from the page", st, eval[string](b, "start", `document.getElementById("job-lines").textContent`))
	}
	b.step("see it running again, its routes kept", 20*time.Second,
		chromedp.Navigate(ui.base()+"/"),
		waitJS(`document.querySelector("`+row+` .status")?.dataset.status === "running"`),
		waitJS(`document.querySelector("`+row+` [data-label=Routes]")?.textContent === "1"`))
}

// unreachableFromInside shows that nothing in the bottle reaches the UI on
// host loopback: from the agent (through its egress) and from the egress
// (on the bridge network, directly), the host's address on each of the
// bottle's networks does not answer on the UI's port, while a server the
// test runs on every address answers the egress (so a refusal is the UI's
// loopback binding, not a broken probe).
func (s *uiStory) unreachableFromInside(ui *uiProcess) {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ui.base(), "http://"))
	control, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		s.t.Fatal(err)
	}
	defer control.Close()
	go http.Serve(control, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "control answers\n") }))
	_, controlPort, _ := net.SplitHostPort(control.Addr().String())
	script := filepath.Join(s.dir, "reach.star")
	os.WriteFile(script, []byte(`# Tries the host's address on each of the bottle's networks from the agent
# and the egress: prints service, gateway, port, exit code, output.
meta = json.decode(read(state_root() + "/" + getenv("SLUG") + "/metadata.json"))
for svc in ["agent", "egress"]:
    for name, net in sorted(meta["networks"].items()):
        for port in [args["ui"], args["control"]]:
            url = "http://%s:%s/" % (net["gateway"], port)
            r = exec(meta["services"][svc], ["/bottle", "fetch", "--timeout", "3s", url], check = False)
            print("%s %s %s %s exit=%d %s" % (svc, name, net["gateway"], port, r.code, (r.stdout + r.stderr).strip().replace("\n", " | ")))
`), 0o644)
	out := s.must("run", script, "ui="+port, "control="+controlPort)
	s.t.Logf("from inside the bottle:\n%s", out)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if f[3] == port && (f[4] == "exit=0" || strings.Contains(line, "bottle ui") || strings.Contains(line, "Refused")) {
			s.t.Errorf("step %q: the UI answered from inside the bottle: %s", "nothing inside reaches the UI", line)
		}
	}
	if !strings.Contains(out, "control answers") {
		s.t.Logf("the control server on every address did not answer the egress either (host firewall?): the check above shows only that the UI did not answer")
	}
}

// cookieStaysHome: the UI listens on a loopback address of its own, so a
// server of another local user on 127.0.0.1 (another port) that the
// operator's browser visits is not sent the UI's session cookie, as it
// would be if both were on 127.0.0.1 (cookies do not separate ports).
func (s *uiStory) cookieStaysHome(b *browser, ui *uiProcess) {
	s.t.Helper()
	host, _, _ := net.SplitHostPort(strings.TrimPrefix(ui.base(), "http://"))
	if host == "127.0.0.1" {
		s.t.Errorf("step %q: bottle ui listens on 127.0.0.1, which every local server shares", "the cookie stays home")
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Cookie"):
		default:
		}
		io.WriteString(w, "<!doctype html><title>another server</title>")
	}))
	b.step("visit another local server", 20*time.Second, chromedp.Navigate("http://"+ln.Addr().String()+"/"))
	if c := <-got; strings.Contains(c, "bottle_ui_") {
		s.t.Errorf("step %q: a server on %s was sent the UI's cookie: %q", "the cookie stays home", ln.Addr(), c)
	}
	b.step("back to the UI", 20*time.Second, chromedp.Navigate(ui.base()+"/"), chromedp.WaitVisible(chromedp.CSS("#bottles")))
}
