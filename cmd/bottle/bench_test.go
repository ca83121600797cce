package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDryRun200Steps runs a 200-step recipe under --dry-run end to end,
// process start included, with the static bottle TestMain built.
func BenchmarkDryRun200Steps(b *testing.B) {
	bin := os.Getenv("BOTTLE_IMAGE_BINARY")
	if bin == "" {
		b.Skip("no static bottle binary (TestMain could not build one)")
	}
	dir := b.TempDir()
	recipe := filepath.Join(dir, "r.star")
	src, err := os.ReadFile("../../testdata/bench/200steps.star")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(recipe, src, 0o644); err != nil {
		b.Fatal(err)
	}
	// "version" is the floor: process start alone. cpu-ms/op (user+sys of the
	// child) is reported too, because wall time on a shared machine mostly
	// measures the other tenants.
	for _, args := range [][]string{{"version"}, {"run", "--dry-run", "r.star"}} {
		b.Run(args[0], func(b *testing.B) {
			var cpu time.Duration
			for range b.N {
				cmd := exec.Command(bin, args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "BOTTLE_STATE_DIR="+filepath.Join(dir, "state"))
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
