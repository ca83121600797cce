//go:build linux

package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/state"
	"github.com/chromedp/chromedp"
)

// uiBenchBottles are how many bottles the benchmark's state root holds.
const uiBenchBottles = 50

// benchState writes a state root of uiBenchBottles stopped bottles, each
// with routes, 2000 decisions, audit lines with diffs and pending requests.
func benchState(b *testing.B) string {
	root := b.TempDir()
	var decisions strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&decisions, `{"time":"2026-11-30T20:%02d:%02d.%03dZ","method":"GET","host":"api%d.example.com","path":"/v1/items/%d","decision":"%s","reason":"%s","status":%d,"bytes":512,"duration":1.5,"mode":"intercept"}`+"\n",
			i/60%60, i%60, i%1000, i%7, i, map[bool]string{true: "deny", false: "allow"}[i%5 == 0], map[bool]string{true: "no route", false: ""}[i%5 == 0], map[bool]int{true: 403, false: 200}[i%5 == 0])
	}
	var audit strings.Builder
	for i := range 30 {
		fmt.Fprintf(&audit, `{"time":"2026-11-30T19:%02d:00Z","action":"routes_apply","recipe":"routes_apply.star","args":{},"diff":"--- a\n+++ b\n@@ -1,2 +1,3 @@\n routes:\n   - host: a.example.com\n+  - host: h%d.example.com\n","phase":"done","id":"x%d"}`+"\n", i, i, i)
	}
	for n := range uiBenchBottles {
		slug := fmt.Sprintf("bench-%02d", n)
		dir := filepath.Join(root, slug)
		files := map[string]string{
			"metadata.json":           fmt.Sprintf(`{"name":%q,"slug":%q,"status":"stopped","created":"2026-11-30T18:00:00Z","services":{"agent":"bottle-%s-agent-1","egress":"bottle-%s-egress-1"}}`, slug, slug, slug, slug),
			"live-config/routes.yaml": "routes:\n  - host: api.example.com\n    paths: [/v1/]\n  - host: github.com\n  - host: pypi.org\n    methods: [GET]\n",
			"egress/decisions.jsonl":  decisions.String(),
			"egress/requests.json":    `[{"id":"r` + fmt.Sprintf("%02d", n) + `a","kind":"denied","host":"api3.example.com","methods":["GET"],"paths":["/v1/"],"reason":"no route","count":3,"first":"2026-11-30T20:00:00Z","last":"2026-11-30T20:01:00Z","status":"pending"}]`,
			"audit.jsonl":             audit.String(),
		}
		for name, body := range files {
			path := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root
}

// BenchmarkUI measures bottle ui in headless Chromium with 50 bottles:
// the time to load the list and a bottle's page (and, as the floor the
// machine gives, a 300-byte page: an unknown bottle's refusal) (navigation start to the
// load event, as the browser reports it: ms/load), and the time from a
// decision line appended to a bottle's decisions.jsonl to its row on that
// bottle's page (ms/decision). The engine is the real daemon when there
// is one (the list asks it for every bottle's containers), else the
// statuses say it could not be asked. With BOTTLE_UI_BENCH_STATE set to
// a state root of running bottles (bench/scale.sh sets it at n=50), it
// measures those instead.
func BenchmarkUI(b *testing.B) {
	chromiumPath(b)
	root, slug, bottles := "", "bench-25", uiBenchBottles
	if root = os.Getenv("BOTTLE_UI_BENCH_STATE"); root != "" {
		// Running bottles (bench/scale.sh's): the page of the middle one.
		metas, err := state.List(root)
		if err != nil || len(metas) == 0 {
			b.Fatalf("BOTTLE_UI_BENCH_STATE=%s: %d bottles, %v", root, len(metas), err)
		}
		slug, bottles = metas[len(metas)/2].Slug, len(metas)
	} else {
		root = benchState(b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	token := randomHex(32)
	srv := &http.Server{Handler: newUIServer(root, ln.Addr().String(), "127.0.0.1", token)}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()
	br := newBrowser(b, 1280, 800)
	br.step("log in", 30*time.Second, chromedp.Navigate(base+"/?token="+token), chromedp.WaitVisible(chromedp.CSS("#bottles")))
	if n := eval[int](br, "count the bottles", `document.querySelectorAll("#bottles tbody tr").length`); n != bottles {
		b.Fatalf("the list shows %d bottles, want %d", n, bottles)
	}
	for _, page := range []struct{ name, path string }{{"floor", "/b/none"}, {"list", "/"}, {"bottle", "/b/" + slug}} {
		b.Run(page.name, func(b *testing.B) {
			var loads, server, parsed []float64
			for range b.N {
				br.step("load "+page.path, 30*time.Second, chromedp.Navigate(base+page.path), waitJS(`document.readyState === "complete"`))
				t := eval[[]float64](br, "timing", `(e => [e.loadEventEnd - e.startTime, e.responseStart - e.requestStart, e.domContentLoadedEventEnd - e.startTime])(performance.getEntriesByType("navigation")[0])`)
				loads, server, parsed = append(loads, t[0]), append(server, t[1]), append(parsed, t[2])
			}
			reportSpread(b, loads, "load")
			b.ReportMetric(median(server), "server-ms/load")
			b.ReportMetric(median(parsed), "dcl-ms/load")
		})
	}
	b.Run("decision", func(b *testing.B) {
		live := filepath.Join(root, slug, egressDir, "decisions.jsonl")
		br.step("open the bottle", 30*time.Second, chromedp.Navigate(base+"/b/"+slug), waitJS(`document.body.dataset.live === "open"`))
		eval[bool](br, "watch the table", `(() => { window.seen = {};
			new MutationObserver(() => { for (const r of document.querySelectorAll("#decision-table tbody tr.new")) { const h = r.cells[4].textContent; if (!(h in window.seen)) window.seen[h] = Date.now(); } })
				.observe(document.querySelector("#decision-table tbody"), {childList: true}); return true })()`)
		var took []float64
		for i := range b.N {
			host := fmt.Sprintf("new%d.example.com", i)
			line := fmt.Sprintf(`{"time":"%s","method":"GET","host":"%s","path":"/x","decision":"deny","reason":"no route","status":403}`+"\n", time.Now().UTC().Format(time.RFC3339Nano), host)
			f, err := os.OpenFile(live, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			sent := time.Now()
			f.WriteString(line)
			f.Close()
			br.step("see "+host, 10*time.Second, waitJS(`"`+host+`" in window.seen`))
			seen := eval[float64](br, "when", `window.seen["`+host+`"]`)
			took = append(took, seen-float64(sent.UnixMilli()))
		}
		reportSpread(b, took, "decision")
	})
}

func median(ms []float64) float64 {
	slices.Sort(ms)
	return ms[len(ms)/2]
}

// reportSpread reports the median and the slowest of ms as ms/WHAT and
// max-ms/WHAT.
func reportSpread(b *testing.B, ms []float64, what string) {
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "ms/"+what)
	b.ReportMetric(ms[len(ms)-1], "max-ms/"+what)
}
