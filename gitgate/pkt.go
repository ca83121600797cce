package gitgate

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// pktReader reads the pkt-lines of an agent's request, the delim-pkt of
// protocol v2 included (go-git v5's pktline.Scanner knows only flush).
// A line is at most 65520 bytes by the format itself.
type pktReader struct {
	r   io.Reader
	buf [65520]byte
}

// pkt kinds besides data.
const (
	pktData = iota
	pktFlush
	pktDelim
	pktEnd
)

// next returns the kind and, for data, the payload (valid until the next
// call).
func (p *pktReader) next() (int, []byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(p.r, head[:]); err != nil {
		return 0, nil, err
	}
	n, err := strconv.ParseUint(string(head[:]), 16, 16)
	if err != nil {
		return 0, nil, fmt.Errorf("bad pkt-line length %q", head[:])
	}
	switch {
	case n == 0:
		return pktFlush, nil, nil
	case n == 1:
		return pktDelim, nil, nil
	case n == 2:
		return pktEnd, nil, nil
	case n < 4 || n > 65520:
		return 0, nil, fmt.Errorf("bad pkt-line length %d", n)
	}
	line := p.buf[:n-4]
	if _, err := io.ReadFull(p.r, line); err != nil {
		return 0, nil, err
	}
	return pktData, line, nil
}

// newGzip reads a gzip-compressed request body (git compresses large
// upload-pack requests).
func newGzip(r io.Reader) (io.Reader, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, errors.New("the request says gzip but is not")
	}
	return zr, nil
}
