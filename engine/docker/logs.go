package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// keepLines is how many of the last log lines a WaitLog timeout quotes.
const keepLines = 8

// WaitLog follows the container's log from since and returns the first line
// (without its timestamp) that re matches. It fails when timeout passes, ctx
// is cancelled or the container stops first, quoting the last lines it saw.
func (e *Engine) WaitLog(ctx context.Context, ctr string, re *regexp.Regexp, since time.Time, timeout time.Duration) (string, error) {
	if err := e.ready(ctx); err != nil {
		return "", err
	}
	step := fmt.Sprintf("wait_log %q in", re.String())
	if since.IsZero() {
		since = time.Now()
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timeout > 0 {
		var cancelT context.CancelFunc
		wctx, cancelT = context.WithTimeout(wctx, timeout)
		defer cancelT()
	}
	rc, err := e.api.ContainerLogs(wctx, ctr, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true,
		Since: fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
	})
	if err != nil {
		return "", waitLogError(ctx, wctx, step, ctr, timeout, nil, err)
	}

	type result struct {
		line    string
		matched bool
		err     error
	}
	var last []string // owned by the reader goroutine until it sends its result
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = eachLogLine(rc, func(ts time.Time, line string) bool {
			if ts.Before(since) {
				return true
			}
			last = append(last, line)
			if len(last) > keepLines {
				last = last[1:]
			}
			if re.MatchString(line) {
				r.line, r.matched = line, true
				return false
			}
			return true
		})
		done <- r
	}()

	var r result
	select {
	case r = <-done:
	case <-wctx.Done():
		rc.Close() // unblocks the reader
		r = <-done
		if !r.matched {
			r.err = wctx.Err()
		}
	}
	rc.Close()
	if r.matched {
		return r.line, nil
	}
	if r.err == nil || errors.Is(r.err, io.EOF) {
		// The stream ended: the container stopped. A daemon may end a follow
		// before it has sent the last lines, so read them once more.
		if line, ok, seen := e.scanLogOnce(ctx, ctr, re, since); ok {
			return line, nil
		} else if len(seen) > 0 {
			last = seen
		}
		return "", fmt.Errorf("%s %s: the container stopped before a line matched%s", step, ctr, quoteLast(last))
	}
	return "", waitLogError(ctx, wctx, step, ctr, timeout, last, r.err)
}

// scanLogOnce reads the log from since without following it.
func (e *Engine) scanLogOnce(ctx context.Context, ctr string, re *regexp.Regexp, since time.Time) (line string, ok bool, last []string) {
	rc, err := e.api.ContainerLogs(ctx, ctr, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true,
		Since: fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
	})
	if err != nil {
		return "", false, nil
	}
	defer rc.Close()
	_ = eachLogLine(rc, func(ts time.Time, l string) bool {
		if ts.Before(since) {
			return true
		}
		last = append(last, l)
		if len(last) > keepLines {
			last = last[1:]
		}
		if re.MatchString(l) {
			line, ok = l, true
			return false
		}
		return true
	})
	return line, ok, last
}

func waitLogError(ctx, wctx context.Context, step, ctr string, timeout time.Duration, last []string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s: %w", step, ctr, ctx.Err())
	case wctx.Err() != nil:
		return fmt.Errorf("%s %s: %w within %s%s", step, ctr, engine.ErrNoLine, timeout, quoteLast(last))
	}
	return fail(step, ctr, err)
}

func quoteLast(last []string) string {
	if len(last) == 0 {
		return " (no log lines since the start of the wait)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "; last %d line(s):", len(last))
	for _, l := range last {
		b.WriteString("\n    " + l)
	}
	return b.String()
}

// eachLogLine demultiplexes a log stream fetched with timestamps and calls fn
// for each line until fn returns false or the stream ends (nil error).
//
// Whether the stream is multiplexed (no TTY) or raw (TTY) is read from its
// first byte instead of an inspect, a round trip saved: a multiplexed frame
// starts with its stream number (0-3), a raw line with its timestamp's year.
func eachLogLine(rc io.Reader, fn func(ts time.Time, line string) bool) error {
	br := bufio.NewReader(rc)
	first, err := br.Peek(1)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var src io.Reader = br
	if first[0] <= 3 {
		pr, pw := io.Pipe()
		go func() {
			_, err := stdcopy.StdCopy(pw, pw, br)
			pw.CloseWithError(err)
		}()
		defer pr.Close()
		src = pr
	}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		ts, line := splitTimestamp(sc.Text())
		if !fn(ts, line) {
			return nil
		}
	}
	return sc.Err()
}

// splitTimestamp splits "2026-11-26T19:00:00.123456789Z text" into its parts.
func splitTimestamp(s string) (time.Time, string) {
	s = strings.TrimSuffix(s, "\r")
	stamp, rest, ok := strings.Cut(s, " ")
	if !ok {
		stamp, rest = s, ""
	}
	ts, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return time.Time{}, s
	}
	return ts, rest
}

// logLine is one line of a project's log, for sorting across services.
type logLine struct {
	ts      time.Time
	stamp   string
	service string
	text    string
}

// projectLogs renders the logs of containers in the form of
// `compose logs --no-color --timestamps`: "service  | <RFC 3339> line",
// merged across services in time order.
func (e *Engine) projectLogs(ctx context.Context, ctrs []engine.Container) (string, error) {
	var lines []logLine
	width := 0
	for _, c := range ctrs {
		svc := c.Labels[engine.ComposeServiceLabel]
		if svc == "" {
			svc = c.Name
		}
		if n := c.Labels["com.docker.compose.container-number"]; n != "" && n != "1" {
			svc += "-" + n
		}
		width = max(width, len(svc))
		rc, err := e.api.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
		if err != nil {
			return "", fmt.Errorf("logs of %s: %v", c.Name, trimAPIError(err))
		}
		err = eachLogLine(rc, func(ts time.Time, text string) bool {
			lines = append(lines, logLine{ts: ts, stamp: ts.UTC().Format(time.RFC3339Nano), service: svc, text: text})
			return true
		})
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("logs of %s: %v", c.Name, err)
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ts.Before(lines[j].ts) })
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%-*s | %s %s\n", width, l.service, l.stamp, l.text)
	}
	return b.String(), nil
}
