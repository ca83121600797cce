package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func scanAll(r io.Reader) (out []string) {
	sc := &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
	for sc.Scan() {
		out = append(out, string(sc.Bytes()))
	}
	return
}

func scannerAll(s string) (out []string) {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 4096), 4<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return
}

// lineReader gives the lines bufio.Scanner gives, for lines it keeps.
func TestAttack6LineReaderAsScanner(t *testing.T) {
	for _, in := range []string{"", "\n", "\n\n\n", "a", "a\n", "a\nb", "a\r\nb\r\n", "a\r", "x\x00y\n\x00\n", "\r\n"} {
		got, want := scanAll(strings.NewReader(in)), scannerAll(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("%q: lineReader %q, Scanner %q", in, got, want)
		}
	}
}

// The last line, unended, is held to maxLogLine as the ended ones are (and
// as the follower holds it).
func TestAttack6LineReaderUnendedLong(t *testing.T) {
	long := strings.Repeat("x", maxLogLine+1)
	if got := scanAll(strings.NewReader("a\n" + long)); len(got) != 1 {
		t.Errorf("an unended last line of maxLogLine+1 bytes was kept (%d lines)", len(got))
	}
	exact := strings.Repeat("y", maxLogLine)
	if got := scanAll(strings.NewReader(exact + "\n" + long + "\nb\n" + exact)); len(got) != 3 || got[1] != "b" {
		t.Errorf("got %d lines", len(got))
	}
}

// lineReader holds at most about maxLogLine+64 KiB.
func TestAttack6LineReaderMemory(t *testing.T) {
	in := strings.Repeat("z", maxLogLine) + "\n" + strings.Repeat("w", 3*maxLogLine) + "\nok\n"
	sc := &lineReader{r: bufio.NewReaderSize(strings.NewReader(in), 64<<10)}
	max := 0
	for sc.Scan() {
		max = cap(sc.line)
	}
	if max > maxLogLine+64<<10 {
		t.Errorf("the line buffer grew to %d bytes (maxLogLine+64 KiB is %d)", max, maxLogLine+64<<10)
	}
	t.Logf("cap %d", max)
	_ = bytes.Clone
}
