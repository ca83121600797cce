package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/egress"
)

// attack4: a decision log's directory is written by its sidecar (the
// egress, the git gate), which parses what the agent sends; one taken over
// that way can put a FIFO in place of its log, whose open blocks (bottle
// logs and every load of the UI's bottle page hung), or a symlink to a host
// file this process may read. Neither is opened: a log is a regular file.
func TestDecisionLogNotRegular(t *testing.T) {
	dir := t.TempDir()
	gateDir := filepath.Join(dir, "git-gate", "log")
	egressLog := filepath.Join(dir, egressDir, egress.DecisionsFile)
	for _, d := range []string{gateDir, filepath.Dir(egressLog)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(gateDir, egress.DecisionsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(t.TempDir(), "host-file")
	appendTo(t, host, `{"time":"2026-11-30T20:02:01Z","method":"GET","host":"host-file.example","path":"/","decision":"deny","reason":"no route","status":403}`+"\n")
	if err := os.Symlink(host, egressLog); err != nil {
		t.Fatal(err)
	}

	returns := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s blocked on the FIFO", what)
		}
	}
	returns("the UI's recentDecisions", func() {
		got, _ := recentDecisions(dir, logFilter{})
		for _, d := range got {
			if d.Host == "host-file.example" {
				t.Errorf("the UI read the file the log links to")
			}
		}
	})
	returns("bottle logs' openLogFiles", func() {
		if l, err := openLogFiles(gateDir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("openLogFiles of a FIFO: %v", err)
			l.close()
		}
		if l, err := openLogFiles(filepath.Dir(egressLog)); err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("openLogFiles of a symlink: %v", err)
			l.close()
		}
	})
	returns("bottle logs -f's tail", func() {
		tl := &tail{name: filepath.Join(gateDir, egress.DecisionsFile)}
		tl.read(make([]byte, 4096))
		tl = &tail{name: egressLog}
		if lines, _ := tl.read(make([]byte, 4096)); len(lines) != 0 {
			t.Errorf("the tail read the file the log links to: %q", lines)
		}
	})
}

// A line without end, which a sidecar taken over could write into its log,
// is dropped whole as it is followed: the follower holds at most a few
// maxLogLine, and the lines around it come through.
func TestFollowDropsEndlessLine(t *testing.T) {
	name := filepath.Join(t.TempDir(), "decisions.jsonl")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tl := openTail(name, 0)
	buf := make([]byte, 64<<10)
	var got []string
	read := func() {
		for {
			lines, _ := tl.read(buf)
			for _, l := range lines {
				got = append(got, string(l))
			}
			if len(tl.rest) > 4*maxLogLine+len(buf) {
				t.Fatalf("the follower holds %d bytes of one line", len(tl.rest))
			}
			if len(lines) == 0 {
				return
			}
		}
	}
	f.WriteString("first\n")
	huge := bytes.Repeat([]byte("x"), 1<<20)
	for range 9 { // 9 MiB of one line, read as it grows
		f.Write(huge)
		read()
	}
	f.WriteString("\nlast\n")
	read()
	read()
	if strings.Join(got, ",") != "first,last" {
		t.Errorf("followed lines = %.80q; want first, last", got)
	}
}

// bottle logs (not following) reads past such a line too: it is dropped
// whole, and the lines before and after it come through as bufio.Scanner
// gave them (an empty line, and the last line unended).
func TestMergeDropsEndlessLine(t *testing.T) {
	dir := t.TempDir()
	line := func(sec int, host string) string {
		return `{"time":"2026-11-30T20:00:0` + string(rune('0'+sec)) + `Z","host":"` + host + `","decision":"deny"}` + "\n"
	}
	appendTo(t, filepath.Join(dir, egress.DecisionsFile), line(1, "first.example")+strings.Repeat("x", 5<<20)+"\n"+line(2, "after.example")+strings.Repeat("y", maxLogLine+1)+"\n"+"\n"+line(3, "last.example")+strings.Repeat("z", 10))
	l, err := openLogFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	var got []string
	if err := mergeLogs([]*logFiles{l}, func(b []byte) { got = append(got, string(b)) }); err != nil {
		t.Fatalf("mergeLogs: %v", err)
	}
	want := []string{line(1, "first.example"), line(2, "after.example"), "", line(3, "last.example"), strings.Repeat("z", 10)}
	for i := range want {
		want[i] = strings.TrimSuffix(want[i], "\n")
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("merged lines = %.300q; want %.300q", got, want)
	}
}
