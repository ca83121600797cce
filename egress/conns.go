package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown, or the listener's error.
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.shutting.Load() {
		p.mu.Unlock()
		ln.Close()
		return nil
	}
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if p.shutting.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !p.clientAllowed(c) {
			continue
		}
		c = wrapRaw(c)
		cc := &clientConn{raw: c, client: c.RemoteAddr().String()}
		ok, busy := p.track(cc)
		if !ok {
			c.Close()
			continue
		}
		go func() {
			defer p.untrack(cc)
			defer c.Close()
			p.wake()
			if busy {
				p.refuseBusy(cc, c)
				return
			}
			p.newSession(cc, c, newReader(c), nil).serve()
		}()
	}
}

// clientAllowed reports whether c's peer is in Config.Clients (always, when
// it is empty). A peer that is not is closed unread, and logged: what it
// would have sent is never seen, so the log holds its address only.
func (p *Proxy) clientAllowed(c net.Conn) bool {
	if len(p.cfg.Clients) == 0 {
		return true
	}
	peer := netip.MustParseAddrPort("0.0.0.0:0")
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		peer = a.AddrPort()
	}
	addr := peer.Addr().Unmap()
	for _, pr := range p.cfg.Clients {
		if pr.Contains(addr) {
			return true
		}
	}
	c.Close()
	e := &accessEntry{start: time.Now(), Client: netip.AddrPortFrom(addr, peer.Port()).String(), Decision: "reject",
		Error: "client not allowed: " + addr.String() + " is outside " + prefixList(p.cfg.Clients)}
	p.access.write(e)
	return false
}

// prefixList is ps as "a, b".
func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, pr := range ps {
		s[i] = pr.String()
	}
	return strings.Join(s, ", ")
}

// Shutdown stops accepting, closes idle connections, lets requests and
// tunnels in flight finish, and returns when all are done. When ctx ends
// first it closes everything and returns ctx.Err().
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.shutting.Store(true)
	p.expiryMu.Lock()
	if p.expiry != nil {
		p.expiry.Stop()
	}
	p.expiryMu.Unlock()
	p.book.flush()
	p.mu.Lock()
	for ln := range p.listeners {
		ln.Close()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		p.closeConns(false)
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			p.cancel()
			p.closeConns(true)
			<-done
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// track registers cc. ok is false during Shutdown; busy reports that
// Config.MaxConns connections are already being served: the egress
// container has no memory limit of its own, so one more gets a 503.
func (p *Proxy) track(cc *clientConn) (ok, busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutting.Load() {
		return false, false
	}
	busy = len(p.conns) >= p.cfg.MaxConns
	p.conns[cc] = struct{}{}
	p.wg.Add(1)
	if p.rest != nil {
		p.rest.Stop()
	}
	return true, busy
}

// refuseBusy answers a connection over Config.MaxConns, without reading it.
func (p *Proxy) refuseBusy(cc *clientConn, c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	s := &session{p: p, cc: cc, c: c, bw: bufio.NewWriterSize(c, 512)}
	s.ent = accessEntry{start: time.Now(), Client: cc.client, Decision: "reject"}
	s.refuse(http.StatusServiceUnavailable, fmt.Sprintf("too many connections (%d); close some and retry", p.cfg.MaxConns), false)
}

func (p *Proxy) untrack(cc *clientConn) {
	p.mu.Lock()
	delete(p.conns, cc)
	if len(p.conns) == 0 && p.rest != nil && !p.shutting.Load() {
		p.rest.Reset(p.cfg.RestAfter)
	}
	p.mu.Unlock()
	p.wg.Done()
}

func (p *Proxy) closeConns(all bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for cc := range p.conns {
		if all || cc.idle.Load() {
			cc.raw.Close()
			cc.closeUpstream()
		}
	}
}

// clientConn is one accepted connection, tracked for Shutdown.
type clientConn struct {
	raw    net.Conn
	client string
	idle   atomic.Bool // waiting for the next request: Shutdown may close it

	mu           sync.Mutex
	up           net.Conn   // the pinned upstream connection, closed with the client's
	tunnelHost   string     // a plain tunnel's host ("" otherwise), for cutTunnels
	tunnelTarget string     // and its host:port
	tunnelAddr   netip.Addr // and the address it is connected to (invalid: through the next proxy)
	cut          atomic.Bool
}

func (cc *clientConn) setUpstream(c net.Conn) {
	cc.mu.Lock()
	cc.up = c
	cc.mu.Unlock()
}

// startTunnel registers a plain tunnel to target (host:port) on up, for
// cutTunnels, and returns the address up is connected to; direct is false
// when up goes through the next proxy (the address is then the proxy's,
// not the host's, and is not checked).
func (cc *clientConn) startTunnel(up net.Conn, host, target string, direct bool) netip.Addr {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.up, cc.tunnelHost, cc.tunnelTarget, cc.tunnelAddr = up, host, target, netip.Addr{}
	if a, ok := up.RemoteAddr().(*net.TCPAddr); ok && direct {
		cc.tunnelAddr = a.AddrPort().Addr()
	}
	return cc.tunnelAddr
}

func (cc *clientConn) endTunnel() {
	cc.mu.Lock()
	cc.tunnelHost, cc.tunnelTarget = "", ""
	cc.mu.Unlock()
}

func (cc *clientConn) closeUpstream() {
	cc.mu.Lock()
	if cc.up != nil {
		cc.up.Close()
	}
	cc.mu.Unlock()
}
