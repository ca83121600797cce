package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/gitgate"
)

// A line of the git gate as gitgate writes it (its Record, marshalled)
// is read into the same columns as the egress's.
func TestGitGateRecordColumns(t *testing.T) {
	rec := gitgate.Record{Time: "2026-11-30T10:00:02.25Z", Kind: "git", Remote: "origin", Op: "push",
		Refs:    []gitgate.RefRecord{{Ref: "refs/heads/main", Old: strings.Repeat("1", 40), New: strings.Repeat("2", 40)}},
		Commits: 3, Bytes: 512, Decision: "deny", Rule: "force", Reason: "refs/heads/main: not a fast-forward"}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !gitLine(b) || ofItsLog(0, b) || !ofItsLog(1, b) {
		t.Errorf("%s is not taken for a git gate's line, in its log only", b)
	}
	d, ok := parseDecision(b)
	want := decisionLine{Time: rec.Time, Decision: "deny", Reason: "force", Method: "push", Host: "git:origin", Path: "refs/heads/main", Bytes: 512,
		Mode: "git 1111111..2222222, 3 commit(s): refs/heads/main: not a fast-forward"}
	if !ok || d.Time != want.Time || d.Decision != want.Decision || d.Reason != want.Reason || d.Method != want.Method ||
		d.Host != want.Host || d.Path != want.Path || d.Bytes != want.Bytes || d.Mode != want.Mode {
		t.Errorf("parseDecision(%s) = %+v, %v; want the columns of %+v", b, d, ok, want)
	}
	if !(logFilter{denied: true}).pass(b) {
		t.Errorf("--denied drops %s", b)
	}
	// No refs: the fast reader takes it, with the same columns.
	rec = gitgate.Record{Time: "2026-11-30T10:00:04Z", Kind: "git", Remote: "mirror", Op: "fetch", Refs: []gitgate.RefRecord{}, Decision: "deny", Rule: "fetch", Reason: "fetch: false"}
	b, _ = json.Marshal(rec)
	var flat decisionLine
	if !parseFlat(b, &flat) {
		t.Errorf("parseFlat refuses %s", b)
	}
	if d, _ := parseDecision(b); d.Host != "git:mirror" || d.Reason != "fetch" || d.Method != "fetch" {
		t.Errorf("parseDecision(%s) = %+v", b, d)
	}
}

// followLines follows the egress's and the gate's live files at once,
// the gate's across a rotation.
func TestFollowLinesBothLogs(t *testing.T) {
	dir := t.TempDir()
	egressLog := filepath.Join(dir, "egress.jsonl")
	gateLog := filepath.Join(dir, "gate.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		followLines(ctx, []*tail{{name: egressLog}, {name: gateLog}}, 10*time.Millisecond, func(lines []logLine) {
			for _, l := range lines {
				got <- string(l.b)
			}
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case line := <-got:
			if line != want {
				t.Fatalf("followed %q, want %q", line, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q never followed", want)
		}
	}
	appendTo(t, egressLog, `{"time":"2026-11-30T10:00:01Z","host":"a"}`+"\n")
	expect(`{"time":"2026-11-30T10:00:01Z","host":"a"}`)
	appendTo(t, gateLog, `{"time":"2026-11-30T10:00:02Z","kind":"git","remote":"origin"}`+"\n"+`{"time":"2026-11-30T10:00:03Z","kind":"git","remote":"b"`)
	expect(`{"time":"2026-11-30T10:00:02Z","kind":"git","remote":"origin"}`)
	appendTo(t, gateLog, "}\n")
	if err := os.Rename(gateLog, gateLog+".1"); err != nil { // rotated
		t.Fatal(err)
	}
	appendTo(t, gateLog, `{"time":"2026-11-30T10:00:04Z","kind":"git","remote":"c"}`+"\n")
	expect(`{"time":"2026-11-30T10:00:03Z","kind":"git","remote":"b"}`)
	expect(`{"time":"2026-11-30T10:00:04Z","kind":"git","remote":"c"}`)
	cancel()
	<-done
}

func appendTo(t *testing.T, name, s string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// The UI's live decisions carry the gate's pushes, and the page lists
// them, from the same reader.
func TestUIShowsGitGateDecisions(t *testing.T) {
	f := newUIFixture(t)
	gateDir := filepath.Join(f.root, "demo", "git-gate", "log")
	if err := os.MkdirAll(gateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	gateLog := filepath.Join(gateDir, "decisions.jsonl")
	appendTo(t, gateLog, `{"time":"2026-11-30T20:02:00Z","kind":"git","remote":"origin","op":"push","refs":[{"ref":"refs/heads/main","old":"1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","new":"2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}],"commits":1,"bytes":512,"decision":"deny","rule":"push","reason":"refs/heads/main: not in push patterns of origin (refs/heads/agent/*)"}`+"\n")
	// An egress line in the gate's log is not shown.
	appendTo(t, gateLog, `{"time":"2026-11-30T20:02:01Z","method":"GET","host":"forged.example","path":"/","decision":"deny","reason":"no route","status":403}`+"\n")
	c, _ := f.login()
	req, _ := http.NewRequest("GET", f.url+"/b/demo?denied=1", nil)
	_, body := f.do(c, req)
	if strings.Contains(body, "forged.example") {
		t.Errorf("the bottle page shows an egress line from the gate's log")
	}
	for _, want := range []string{"git:origin", "refs/heads/main", "git 1111111..2222222, 1 commit(s)", "evil.example"} {
		if !strings.Contains(body, want) {
			t.Errorf("the bottle page lacks %q", want)
		}
	}
	// Live: from the end of both logs, a new push appears, with the
	// offsets of both logs as its id.
	egressSize, gateSize := fileSize(t, filepath.Join(f.root, "demo", "egress", "decisions.jsonl")), fileSize(t, gateLog)
	from := formatOffsets([]int64{egressSize, gateSize})
	if !strings.Contains(body, "from="+from) {
		t.Errorf("the page does not follow from %s", from)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", f.url+"/b/demo/events?from="+from, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := `{"time":"2026-11-30T20:03:00Z","kind":"git","remote":"origin","op":"push","refs":[{"ref":"refs/heads/agent/x","old":"0000000000000000000000000000000000000000","new":"3333333ccccccccccccccccccccccccccccccccc"}],"commits":2,"bytes":99,"decision":"allow"}`
	appendTo(t, gateLog, line+"\n")
	sc := bufio.NewScanner(resp.Body)
	var id string
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var d decisionLine
			if err := json.Unmarshal([]byte(v), &d); err != nil || d.Host != "git:origin" || d.Path != "refs/heads/agent/x" || d.Mode != "git 0000000..3333333, 2 commit(s)" {
				t.Fatalf("event %s, want the push to refs/heads/agent/x", v)
			}
			if want := formatOffsets([]int64{egressSize, gateSize + int64(len(line)) + 1}); id != want {
				t.Errorf("event id %q, want %q", id, want)
			}
			return
		}
	}
	t.Fatalf("no decision event: %v", sc.Err())
}

func fileSize(t *testing.T, name string) int64 {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
