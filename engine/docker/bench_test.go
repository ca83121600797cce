package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/engine"
)

// TestEngineBench measures the engine against the docker and compose CLIs on
// this machine, interleaving the two sides round by round so that load from
// other processes hits both alike. It prints a Markdown table for
// BENCHMARKS.md. Run it with bench/engine.sh (BOTTLE_BENCH=1; BOTTLE_BENCH_N
// rounds, default 5).
func TestEngineBench(t *testing.T) {
	if os.Getenv("BOTTLE_BENCH") != "1" {
		t.Skip("set BOTTLE_BENCH=1 (bench/engine.sh) to run the engine benchmarks")
	}
	e := needDocker(t)
	ctx := context.Background()
	rounds := 5
	if n, err := strconv.Atoi(os.Getenv("BOTTLE_BENCH_N")); err == nil && n > 0 {
		rounds = n
	}
	compose, err := e.Compose(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := func(argv ...string) {
		t.Helper()
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	timed := func(f func()) time.Duration { s := time.Now(); f(); return time.Since(s) }
	var rows []string
	report := func(what string, ours, theirs []time.Duration, oursName, theirsName string) {
		mo, mt := median(ours), median(theirs)
		rows = append(rows, fmt.Sprintf("| %s | %s: %s (min %s) | %s: %s (min %s) | %+.1f%% |",
			what, oursName, ms(mo), ms(slices.Min(ours)), theirsName, ms(mt), ms(slices.Min(theirs)),
			100*(float64(mo)-float64(mt))/float64(mt)))
	}

	// 1. network create + remove.
	var netOurs, netCLI []time.Duration
	for i := range rounds {
		name := fmt.Sprintf("%s-bench-net-%d", testRun, i)
		netOurs = append(netOurs, timed(func() {
			if _, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Labels: testLabels()}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.NetworkRemove(ctx, name); err != nil {
				t.Fatal(err)
			}
		}))
		netCLI = append(netCLI, timed(func() {
			run("docker", "network", "create", "--label", engine.InstanceLabel+"="+testRun, name)
			run("docker", "network", "rm", name)
		}))
	}
	report("network create + remove (bridge)", netOurs, netCLI, "engine", "docker CLI")

	// 2. compose up, 3. compose down with logs: the same two-service spec.
	spec := func(project string) string {
		return `services:
  agent:
    image: ` + testImage + `
    command: ["serve", "--name", "agent"]
    labels: {` + engine.InstanceLabel + `: ` + testRun + `}
  egress:
    image: ` + testImage + `
    command: ["serve", "--name", "egress"]
    labels: {` + engine.InstanceLabel + `: ` + testRun + `}
`
	}
	cli := func(project, file string, args ...string) []string {
		return append(append(slices.Clone(compose), "-p", project, "-f", file), args...)
	}
	var upOurs, upCLI, upOutside, downOurs, downCLI []time.Duration
	for i := range rounds {
		dir := t.TempDir()
		p1 := fmt.Sprintf("%s-bench-a%d", testRun, i)
		p2 := fmt.Sprintf("%s-bench-b%d", testRun, i)
		f2 := filepath.Join(dir, "b.yml")
		os.WriteFile(f2, []byte(spec(p2)), 0o600)
		var inCompose time.Duration
		e.onCompose = func(_ []string, took time.Duration) { inCompose = took }
		ours := func() {
			took := timed(func() {
				if _, err := e.ComposeUp(ctx, engine.ComposeProject{Project: p1, Dir: dir, File: filepath.Join(dir, "a.yml"), YAML: []byte(spec(p1))}); err != nil {
					t.Fatal(err)
				}
			})
			upOurs = append(upOurs, took)
			upOutside = append(upOutside, took-inCompose)
		}
		theirs := func() { upCLI = append(upCLI, timed(func() { run(cli(p2, f2, "up", "-d")...) })) }
		if i%2 == 0 { // alternate who goes first: the daemon is busier right after a down
			ours()
			theirs()
		} else {
			theirs()
			ours()
		}
		e.onCompose = nil

		// ComposeDown reads <dir>/docker-compose.yml.
		d1 := filepath.Join(dir, "down1")
		os.MkdirAll(d1, 0o700)
		os.WriteFile(filepath.Join(d1, "docker-compose.yml"), []byte(spec(p1)), 0o600)
		downOurs = append(downOurs, timed(func() {
			if err := e.ComposeDown(ctx, p1, d1, filepath.Join(dir, "ours.log")); err != nil {
				t.Fatal(err)
			}
		}))
		downCLI = append(downCLI, timed(func() {
			out, err := exec.Command(compose[0], append(compose[1:], "-p", p2, "-f", f2, "logs", "--no-color", "--timestamps")...).Output()
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "cli.log"), out, 0o600)
			run(cli(p2, f2, "down", "--remove-orphans")...)
		}))
	}
	report("compose up, 2 services", upOurs, upCLI, "ComposeUp", strings.Join(compose, " ")+" up -d")
	rows = append(rows, fmt.Sprintf("| compose up: ComposeUp's own work (write spec, find containers by label) | %s (min %s) | - | %.2f%% of ComposeUp |",
		ms(median(upOutside)), ms(slices.Min(upOutside)), 100*float64(median(upOutside))/float64(median(upOurs))))
	report("compose down with logs, 2 services", downOurs, downCLI, "ComposeDown (logs via API)", "logs --timestamps + down")

	// 4. SIGHUP to the log line that PID 1 prints on receiving it.
	ctr := runContainer(t, e, "bench-hup", []string{"serve"})
	if _, err := e.WaitLog(ctx, ctr, regexp.MustCompile("ready"), time.Unix(0, 0), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var hup, hupAPI, hupCLI []time.Duration
	re := regexp.MustCompile("SIGHUP received")
	hupOnce := func(viaAPI bool) time.Duration {
		e.signalViaAPI = viaAPI
		defer func() { e.signalViaAPI = false }()
		return timed(func() {
			since, err := e.Signal(ctx, ctr, "HUP")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.WaitLog(ctx, ctr, re, since, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
	for range rounds * 4 {
		hup = append(hup, hupOnce(false))
		hupAPI = append(hupAPI, hupOnce(true))
		hupCLI = append(hupCLI, timed(func() {
			since := time.Now()
			run("docker", "kill", "-s", "HUP", ctr)
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				out, err := exec.Command("docker", "logs", "--since", since.Format(time.RFC3339Nano), ctr).CombinedOutput()
				if err != nil {
					t.Fatalf("docker logs %s: %v: %s", ctr, err, out)
				}
				if re.Match(out) {
					return
				}
			}
			t.Fatalf("docker logs %s: no SIGHUP line within 10s", ctr)
		}))
	}
	report("SIGHUP -> log line seen", hup, hupCLI, "Signal (direct to PID 1) + WaitLog", "docker kill + docker logs poll")
	report("SIGHUP -> log line seen, signal through the daemon", hupAPI, hupCLI, "Signal (API kill) + WaitLog", "docker kill + docker logs poll")

	fmt.Printf("\nrounds: %d (median, min); compose: %s; API %s\n\n", rounds, strings.Join(compose, " "), e.APIVersion())
	fmt.Println("| step | bottle engine | CLI | engine vs CLI |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
