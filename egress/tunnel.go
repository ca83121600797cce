package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

// connect answers a CONNECT: 403 with no route, a TLS interception when the
// route has rules, otherwise a plain tunnel the proxy never looks into.
func (s *session) connect(req *http.Request, rs *routes.Routes) {
	e, file := &s.ent, s.p.cfg.RoutesFile
	host, port, err := splitHostPort(req.URL.Host, "")
	if err != nil || req.URL.Host == "" {
		if err == nil {
			err = errors.New("CONNECT needs host:port")
		}
		e.Host = ""
		s.reject(http.StatusBadRequest, "bad CONNECT target", err.Error())
		return
	}
	e.Host = host
	e.Mode = ModeTunnel
	route := rs.Match(host)
	if route == nil {
		e.Decision, e.Reason = "deny", ReasonNoRoute
		s.refuse(http.StatusForbidden, fmt.Sprintf("%s is not in the routes file (%s)", host, file), false)
		return
	}
	e.Route = route.Host
	if !route.AllowsPort(port) {
		e.Decision, e.Reason = "deny", ReasonPort
		s.refuse(http.StatusForbidden, portRefusal(host, port, route, file), false)
		return
	}
	if why, msg := s.p.grantRefusal(route, !route.Intercepts()); why != "" {
		e.Decision, e.Reason = "deny", why
		s.refuse(http.StatusForbidden, msg, false)
		return
	}
	if route.Intercepts() {
		e.Mode = ModeIntercept
		s.intercept(host, port)
		return
	}
	s.plainTunnel(host, port, req.URL.Host, route)
}

// plainTunnel connects the client to host:port and carries bytes both
// ways until both sides are done, or a reload cuts it (cutTunnels); target
// is the CONNECT's, as the client wrote it.
func (s *session) plainTunnel(host, port, target string, route *routes.Route) {
	p, cc, e := s.p, s.cc, &s.ent
	up, err := p.dialTunnel(p.ctx, net.JoinHostPort(host, port), route.Private)
	if err != nil {
		s.refuseDial(host, route, err, false)
		return
	}
	defer up.Close()
	s.bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if s.bw.Flush() != nil {
		return
	}
	e.Decision = "tunnel"
	e.Status = http.StatusOK
	var early []byte // what the client sent before it saw the 200
	if n := s.br.Buffered(); n > 0 {
		early, _ = s.br.Peek(n)
	}
	if p.cfg.BeforeTunnel != nil {
		p.cfg.BeforeTunnel()
	}
	addr := cc.startTunnel(up, host, target, p.cfg.Upstream == nil)
	if !plainTunnelAllowed(p.routes.Load().Match(host), target, addr) {
		// A reload since the route check, too early for cutTunnels to see
		// this tunnel: nothing goes through it.
		cc.cut.Store(true)
		e.Decision, e.Reason = "deny", ReasonNoRoute
	} else {
		e.Bytes = tunnel(s.c, early, up, p.cfg.HalfCloseTimeout)
	}
	cc.endTunnel()
	if cc.cut.Load() {
		e.Error = "closed by a routes reload that no longer allows this tunnel"
	}
	p.access.write(e)
}

// intercept terminates the client's TLS with a leaf for host and serves
// the requests inside it; each is checked against the routes in force when
// it arrives.
func (s *session) intercept(host, port string) {
	p, e := s.p, &s.ent
	s.bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if s.bw.Flush() != nil {
		return
	}
	ic := &interceptConn{Conn: s.c, r: s.br, host: host, port: port}
	tc := tls.Server(ic, p.tlsServer)
	s.c.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.HandshakeContext(p.ctx)
	s.c.SetDeadline(time.Time{})
	e.Status = http.StatusOK
	e.Decision = "intercept"
	if err != nil {
		e.Decision = "error"
		e.Error = "TLS handshake with the client: " + upstreamError(err)
	}
	p.access.write(e)
	if err != nil {
		return
	}
	// The plain-side reader is free once the handshake has used what it
	// held: reuse it for the requests inside, one buffer per connection.
	inner := s.br
	if s.br.Buffered() == 0 {
		ic.r = nil
		s.br.Reset(tc)
	} else {
		inner = newReader(tc)
	}
	p.newSession(s.cc, tc, inner, ic).serve()
}

// dialTunnel opens a byte stream to hostport, through the upstream proxy's
// CONNECT when there is one; allow is the route's private: networks.
func (p *Proxy) dialTunnel(ctx context.Context, hostport string, allow []netip.Prefix) (net.Conn, error) {
	u := p.cfg.Upstream
	if u == nil {
		return p.dial(ctx, hostport, allow)
	}
	c, err := p.dialNextProxy(ctx)
	if err != nil {
		return nil, fmt.Errorf("upstream proxy %s: %w", u.Host, err)
	}
	connectReq := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: hostport}, Host: hostport, Header: http.Header{}}
	if p.upstreamAuth != "" {
		connectReq.Header["Proxy-Authorization"] = []string{p.upstreamAuth}
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := connectReq.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream proxy %s: %w", u.Host, err)
	}
	ubr := bufio.NewReader(c)
	resp, err := http.ReadResponse(ubr, connectReq)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream proxy %s: %w", u.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("upstream proxy %s refused CONNECT %s: %s", u.Host, hostport, resp.Status)
	}
	c.SetDeadline(time.Time{})
	if ubr.Buffered() > 0 {
		return &interceptConn{Conn: c, r: ubr}, nil
	}
	return c, nil
}

// tunnel copies both ways until both sides are done, half-closing each
// side when its peer stops sending; once one direction is done the other
// gets halfClose to finish: without that, a client that left while the
// upstream holds its side open (or the reverse) would hold the tunnel's
// goroutines and both connections forever. It returns the bytes sent to
// the client.
func tunnel(client net.Conn, early []byte, up net.Conn, halfClose time.Duration) int64 {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(early) > 0 {
			if _, err := up.Write(early); err != nil {
				up.Close()
				return
			}
		}
		relay(up, client)
		closeWrite(up)
		up.SetReadDeadline(time.Now().Add(halfClose))
	}()
	n := relay(client, up)
	closeWrite(client)
	client.SetReadDeadline(time.Now().Add(halfClose))
	<-done
	return n
}

// relay copies src to dst until src ends or either fails, and returns the
// bytes written. Requests and answers go through a buffer (raw reads and
// writes: rawio_linux.go); once a read fills the buffer, the stream is a
// download or an upload, and the rest goes by io.Copy between the TCP
// connections underneath, which is splice(2): socket to socket in the
// kernel, through no buffer of the proxy's.
func relay(dst, src net.Conn) int64 {
	buf := tunnelBufs.Get().(*[16 << 10]byte)
	defer tunnelBufs.Put(buf)
	var n int64
	for {
		m, err := src.Read(buf[:])
		if m > 0 {
			w, werr := dst.Write(buf[:m])
			n += int64(w)
			if werr != nil {
				return n
			}
		}
		if err != nil {
			return n
		}
		if m == len(buf) {
			k, _ := io.Copy(tcpConn(dst), tcpConn(src))
			return n + k
		}
	}
}

// tunnelBufs holds relay's buffers: one per direction per live tunnel,
// and none once it has moved to splice. 16 KiB holds a whole TLS record.
var tunnelBufs = sync.Pool{New: func() any { return new([16 << 10]byte) }}

func closeWrite(c net.Conn) {
	if ic, ok := c.(*interceptConn); ok {
		c = ic.Conn
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}

// interceptConn is the client side of an intercepted CONNECT, before TLS:
// reads go through the reader that already holds what the client sent.
type interceptConn struct {
	net.Conn
	r    *bufio.Reader
	host string // the CONNECT target's host, named by the minted leaf
	port string

	hp, auth string // hostport and authority, made once per connection
}

// hostport is host:port, as net.JoinHostPort makes it.
func (c *interceptConn) hostport() string {
	if c.hp == "" {
		c.hp = net.JoinHostPort(c.host, c.port)
	}
	return c.hp
}

// authority is the Host header requests to the target are sent with.
func (c *interceptConn) authority() string {
	if c.auth == "" {
		c.auth = authorityOf("https", c.host, c.port)
	}
	return c.auth
}

func (c *interceptConn) Read(b []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(b)
		}
		c.r = nil // what the client sent early is used up
	}
	return c.Conn.Read(b)
}
