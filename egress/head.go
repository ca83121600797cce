package egress

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"unicode"
)

// rawHead is what the proxy needs from the request head as the client sent
// it, before net/http normalises it away.
type rawHead struct {
	method, target string // from the request line, for logging what could not be parsed
	host           string // the Host header, "" when absent
	clAndTE        bool   // both Content-Length and Transfer-Encoding: a smuggling attempt
}

var errHeaderTooLarge = fmt.Errorf("request head larger than %d KiB", maxHeaderBytes>>10)

// headBuffered reports whether br already holds a whole request head.
func headBuffered(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	return headEnd(buf) >= 0
}

// headEnd is the index of the first blank line in buf (where the head
// ends, as net/http reads it: a line ending "\n", with or without "\r",
// that is empty), or -1. The first, whichever its spelling: a bare-LF
// head followed by a pipelined CRLF request ends at its own "\n\n".
func headEnd(buf []byte) int {
	lf := bytes.Index(buf, []byte("\n\n"))
	crlf := bytes.Index(buf, []byte("\n\r\n"))
	switch {
	case lf < 0:
		return crlf
	case crlf < 0:
		return lf
	}
	return min(lf, crlf)
}

// scanHead looks at the buffered request head without consuming it.
func scanHead(br *bufio.Reader) (rawHead, error) {
	var h rawHead
	var head []byte
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := headEnd(buf); i >= 0 {
			head = buf[:i]
			break
		}
		if br.Buffered() >= maxHeaderBytes {
			return h, errHeaderTooLarge
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return h, err
		}
	}
	var cl, te bool
	line, rest, _ := bytes.Cut(head, []byte("\n"))
	h.method, h.target = firstTwoFields(string(line))
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(":"))
		if !ok {
			continue
		}
		switch name = bytes.TrimSpace(name); {
		case bytes.EqualFold(name, []byte("content-length")):
			cl = true
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			te = true
		case bytes.EqualFold(name, []byte("host")):
			h.host = string(bytes.TrimSpace(value))
		}
	}
	h.clAndTE = cl && te
	return h, nil
}

// firstTwoFields is strings.Fields(s)[0:2], or "", "" when s has fewer
// than two fields, without building the slice.
func firstTwoFields(s string) (a, b string) {
	next := func() string {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			i = len(s)
		}
		f := s[:i]
		s = s[i:]
		return f
	}
	if a, b = next(), next(); b == "" {
		return "", ""
	}
	return a, b
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, maxHeaderBytes) }
