package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// After atRest this process holds fewer of its binary's pages: an idle
// egress does not keep what starting touched.
func TestAtRestDropsStartPages(t *testing.T) {
	before := rssFileKB(t)
	if err := atRest(); err != nil {
		t.Skipf("this kernel keeps them: %v", err)
	}
	after := rssFileKB(t)
	t.Logf("RssFile %d kB -> %d kB", before, after)
	if after >= before {
		t.Errorf("RssFile %d kB -> %d kB after atRest; want fewer pages", before, after)
	}
}

func rssFileKB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}
