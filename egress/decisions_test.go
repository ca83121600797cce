package egress

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The decision log rotates at its size limit, at line boundaries, and
// keeps Keep files: what is on disk stays bounded.
func TestRotatingFileBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DecisionsFile)
	r, err := OpenRotating(path, 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		fmt.Fprintf(r, "{\"n\":%04d,\"pad\":\"%s\"}\n", i, strings.Repeat("x", 80))
	}
	r.Close()
	files, _ := os.ReadDir(dir)
	if len(files) != 3 {
		t.Fatalf("%d files, want 3 (the live one and 2 rotated): %v", len(files), files)
	}
	var total int64
	for _, name := range []string{path, path + ".1", path + ".2"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(data))
		if len(data) > 1000 || !strings.HasSuffix(string(data), "}\n") || !strings.HasPrefix(string(data), "{") {
			t.Errorf("%s: %d bytes, or not whole lines", name, len(data))
		}
	}
	last, _ := os.ReadFile(path)
	if !strings.Contains(string(last), `"n":0199`) {
		t.Errorf("the live file lacks the last line: %s", last)
	}
	// Reopening appends, and counts what is there.
	r, _ = OpenRotating(path, 1000, 3)
	defer r.Close()
	if r.size != int64(len(last)) {
		t.Errorf("reopened size %d, want %d", r.size, len(last))
	}
}

// bottle egress --state writes the decision log there as well as stdout.
func TestProcessDecisionLog(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, "routes:\n  - host: plain.example.test\n    private: true\n", "--state", dir)
	c := p.tp.client(t)
	get(t, c, "GET", "http://plain.example.test/ok?token=sekrit")
	get(t, c, "GET", "http://nowhere.example.test/")
	waitFor(t, func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, DecisionsFile))
		return strings.Count(string(data), "\n") >= 2
	})
	data, _ := os.ReadFile(filepath.Join(dir, DecisionsFile))
	if !strings.Contains(string(data), `"path":"/ok","decision":"allow"`) || !strings.Contains(string(data), `"reason":"no route"`) || strings.Contains(string(data), "sekrit") {
		t.Errorf("decisions.jsonl:\n%s", data)
	}
}

// The decision log's cost: the plain-HTTP request loop with the access log
// batched to /dev/null (as stdout), and with it also written to a
// rotating decisions.jsonl, as bottle egress --state does. cpu-ns/op is
// the process's user+system CPU per request (client and upstream
// included, as they are the same in both).
func BenchmarkDecisionLog(b *testing.B) {
	for _, withLog := range []bool{false, true} {
		name := "stdout-only"
		if withLog {
			name = "with-decisions"
		}
		b.Run(name, func(b *testing.B) {
			devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer devnull.Close()
			var w io.Writer = devnull
			if withLog {
				rf, err := OpenRotating(filepath.Join(b.TempDir(), DecisionsFile), DecisionsMax, DecisionsKeep)
				if err != nil {
					b.Fatal(err)
				}
				defer rf.Close()
				w = io.MultiWriter(devnull, rf)
			}
			bw := &BatchWriter{W: w, Interval: 50 * time.Millisecond}
			tp := startProxyWith(b, testRoutes, newWorld(b), "127.0.0.1:0", func(c *Config) { c.AccessLog = bw })
			c := tp.client(b)
			before := cpuTime()
			for b.Loop() {
				resp, err := c.Get("http://plain.example.test/x")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
			bw.Flush()
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
