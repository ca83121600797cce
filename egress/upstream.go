package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

// upstream is the connection one client connection's requests go out on.
// It is pinned to the client connection, not pooled: a keep-alive client
// talking to one host (the usual case, and the only case inside an
// intercepted tunnel) gets one upstream connection, and a request is
// written and its response read by the client's own goroutine, with no
// hand-off to a pool's reader and writer goroutines. That hand-off was
// most of the per-request cost with net/http's Transport.
type upstream struct {
	scheme, host string         // what it was dialled for: out.URL's Scheme and Host
	allow        []netip.Prefix // and the route's private: networks it was dialled under
	conn         net.Conn
	raw          net.Conn  // the TCP connection under conn, for the stale check
	idle         time.Time // when the last response ended
	br           *bufio.Reader
	bw           *bufio.Writer
	lim          *headLimit // under br: bounds what a response head may take
	used         bool       // has carried a request: a failure may just be a stale keep-alive
}

func (u *upstream) close() {
	if u.conn != nil {
		u.conn.Close()
		u.conn = nil
	}
}

// roundTrip sends out on the client connection's upstream, dialling it
// first if it is missing, for another host or was dialled under other
// private: networks (allow, the route's), and returns the response head.
// The caller reads the body to EOF, then calls done.
func (p *Proxy) roundTrip(cc *clientConn, u *upstream, out *http.Request, allow []netip.Prefix) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		if u.conn != nil && (u.scheme != out.URL.Scheme || u.host != out.URL.Host || !slices.Equal(u.allow, allow) || time.Since(u.idle) > staleCheckAfter && stale(u.raw)) {
			u.close()
		}
		if u.conn == nil {
			u.close()
			if err := p.dialUpstream(cc, u, out, allow); err != nil {
				return nil, err
			}
		}
		viaNext := p.cfg.Upstream != nil && out.URL.Scheme == "http"
		if viaNext && p.upstreamAuth != "" {
			out.Header["Proxy-Authorization"] = []string{p.upstreamAuth}
		}
		resp, err := u.send(out, viaNext)
		if err == nil {
			return resp, nil
		}
		reused := u.used
		u.close()
		// A keep-alive connection the upstream closed meanwhile: try once
		// more on a fresh one, when nothing of a body has been sent.
		if !reused || attempt > 0 || (out.Body != nil && out.Body != http.NoBody) {
			return nil, err
		}
	}
}

func (u *upstream) send(out *http.Request, absoluteForm bool) (*http.Response, error) {
	var err error
	if absoluteForm {
		err = out.WriteProxy(u.bw)
	} else {
		err = out.Write(u.bw)
	}
	if err == nil {
		err = u.bw.Flush()
	}
	if err != nil {
		return nil, err
	}
	// The heads (1xx ones included) of one response: at most
	// maxResponseHead bytes from the wire, so an upstream cannot make the
	// proxy buffer an endless head. The body is not limited.
	u.lim.n = maxResponseHead
	defer func() { u.lim.n = -1 }()
	for {
		resp, err := http.ReadResponse(u.br, out)
		if err != nil {
			return nil, err
		}
		// 1xx (103 Early Hints...) come before the real answer; the client
		// is not told about them. 101 is refused below: upgrades are not
		// forwarded.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
			continue
		}
		u.used = true
		return resp, nil
	}
}

// done is called once the response body has been read to EOF, or not.
func (u *upstream) done(resp *http.Response, bodyRead bool) {
	// Bytes beyond the response were never asked for: reading them as the
	// next response would answer the client's next request with them.
	if !bodyRead || resp.Close || resp.StatusCode == 101 || u.br != nil && u.br.Buffered() > 0 {
		u.close()
	}
	u.idle = time.Now()
}

// staleCheckAfter: a connection idle for less than this is taken to be
// alive without asking the kernel (a request that then fails without a
// body is still retried once).
const staleCheckAfter = 500 * time.Millisecond

func (p *Proxy) dialUpstream(cc *clientConn, u *upstream, out *http.Request, allow []netip.Prefix) error {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	hostport := out.URL.Host
	if out.URL.Port() == "" {
		hostport = net.JoinHostPort(out.URL.Hostname(), map[string]string{"http": "80", "https": "443"}[out.URL.Scheme])
	}
	var c, raw net.Conn
	var err error
	switch {
	case out.URL.Scheme == "http" && p.cfg.Upstream != nil:
		c, err = p.dialNextProxy(ctx)
		raw = c
		if err != nil {
			err = fmt.Errorf("upstream proxy %s: %w", p.cfg.Upstream.Host, err)
		}
	case out.URL.Scheme == "http":
		c, err = p.dial(ctx, hostport, allow)
		raw = c
	default:
		c, err = p.dialTunnel(ctx, hostport, allow)
		raw = c
		if err == nil {
			c, err = p.clientTLS(ctx, c, out.URL.Hostname())
		}
	}
	if err != nil {
		return err
	}
	cc.setUpstream(c)
	lim := &headLimit{r: c, n: -1}
	*u = upstream{scheme: out.URL.Scheme, host: out.URL.Host, allow: allow, conn: c, raw: raw, idle: time.Now(), br: bufio.NewReaderSize(lim, 4<<10), bw: bufio.NewWriterSize(c, 4<<10), lim: lim}
	return nil
}

func (p *Proxy) upstreamAddr() string {
	if p.cfg.Upstream.Port() == "" {
		return net.JoinHostPort(p.cfg.Upstream.Hostname(), "80")
	}
	return p.cfg.Upstream.Host
}

// clientTLS is the proxy's TLS to the real host, verified against the
// configured roots (the system's by default).
func (p *Proxy) clientTLS(ctx context.Context, c net.Conn, host string) (net.Conn, error) {
	cfg := p.tlsClient.Clone()
	cfg.ServerName = host
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

var errUpgrade = errors.New("the upstream switched protocols; upgrades are not forwarded")

// maxResponseHead bounds the bytes read from an upstream while waiting for
// a response head: status lines and headers, 1xx responses included.
const maxResponseHead = 1 << 20

var errResponseHeadTooLarge = fmt.Errorf("the upstream's response head is larger than %d KiB", maxResponseHead>>10)

// headLimit is the reader under an upstream's bufio.Reader. While n >= 0 a
// read takes at most n more bytes, and fails once they are used up; n < 0
// (while a body is read) is no limit.
type headLimit struct {
	r net.Conn
	n int64
}

func (l *headLimit) Read(b []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(b)
	}
	if l.n == 0 {
		return 0, errResponseHeadTooLarge
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	m, err := l.r.Read(b)
	l.n -= int64(m)
	return m, err
}
