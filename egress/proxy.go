package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is what a Proxy needs. Only RoutesFile is required.
type Config struct {
	RoutesFile string         // routes.yaml; read by New and by every Reload
	CA         *CA            // signs leaves for intercepted hosts; nil refuses routes that need interception
	Upstream   *url.URL       // next proxy (http://host:port) for allowed traffic; nil dials directly
	RootCAs    *x509.CertPool // trust for upstream TLS; nil means the system roots (SSL_CERT_FILE honoured)

	// Resolve, when set, maps the "host:port" the proxy is about to dial
	// to the address to dial instead (--resolve; tests point names like
	// api.example.test at loopback here). The address check applies to
	// what is finally dialled.
	Resolve func(hostport string) string
	// Dialer opens TCP connections; nil is a net.Dialer with a 15s timeout.
	// The proxy refuses special-purpose addresses (loopback, private...)
	// that the route does not allow (private:) in its own Control
	// function, which then calls the Dialer's Control or ControlContext.
	Dialer *net.Dialer
	// Getenv reads injected secrets. nil uses os.Getenv.
	Getenv func(string) string

	// Clients, when not empty, are the only networks the proxy serves: a
	// connection from any other peer address is closed unread and logged
	// (decision "reject"). IPv4-mapped IPv6 forms count as IPv4. bottle
	// egress sets it with --clients: the bottle's internal network, so
	// that a host user who reaches the egress on its external network
	// cannot use it (and its injected credentials).
	Clients []netip.Prefix

	// Spin is how long a read may poll a hot connection before parking
	// (see fastConn); 0 never spins. bottle egress sets it with --spin.
	Spin time.Duration

	// StateDir, when set, is a directory the egress may write: it keeps
	// the use counts of routes with uses: there (grants.go), so that a
	// restart does not reset them.
	StateDir string

	AccessLog io.Writer // one JSON line per request; nil discards
	Log       io.Writer // "egress: loaded N route(s)" and reload failures; nil discards
}

// Proxy is the egress proxy. Create it with New, serve with Serve, change
// its routes with Reload, stop it with Shutdown.
type Proxy struct {
	cfg       Config
	routes    atomic.Pointer[Routes]
	reloadMu  sync.Mutex
	readFile  func(string) ([]byte, error) // os.ReadFile; tests stub it
	tlsClient *tls.Config                  // to real hosts; cloned per connection for ServerName
	tlsServer *tls.Config
	dialer    *net.Dialer // Config.Dialer with the address check (private.go)
	access    *accessLog
	// upstreamAuth is the Proxy-Authorization value for the next proxy
	// (from --upstream's user:password), "" without credentials.
	upstreamAuth string

	uses     *useCounts // requests counted against routes with uses: (grants.go)
	expiryMu sync.Mutex
	expiry   *time.Timer // cuts plain tunnels at the next route expiry

	ctx    context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*clientConn]struct{}
	shutting  atomic.Bool
	wg        sync.WaitGroup
}

// Timeouts for the client side. Upstream responses have no deadline: model
// APIs stream for minutes.
var headerTimeout = 30 * time.Second // a var for tests: the whole head, however it trickles in

const (
	idleTimeout      = 5 * time.Minute
	idleSlack        = 30 * time.Second // an idle keep-alive connection closes after 4.5-5 minutes
	handshakeTimeout = 10 * time.Second
	maxHeaderBytes   = 16 << 10
)

// New loads the routes file and returns a proxy ready to Serve. It logs
// "egress: loaded N route(s)".
func New(cfg Config) (*Proxy, error) {
	if cfg.RoutesFile == "" {
		return nil, errors.New("egress: no routes file")
	}
	if cfg.Upstream != nil && cfg.Upstream.Scheme != "http" {
		return nil, fmt.Errorf("egress: upstream %s: only http:// proxies are supported", cfg.Upstream)
	}
	if cfg.Spin < 0 || cfg.Spin > maxSpin {
		return nil, fmt.Errorf("egress: spin %v: want 0 to %v", cfg.Spin, maxSpin)
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	for _, pr := range cfg.Clients {
		if !pr.IsValid() {
			return nil, fmt.Errorf("egress: clients: %v is not a network", pr)
		}
	}
	cfg.Clients = normalizePrefixes(cfg.Clients)
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	dialer := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	if cfg.Dialer != nil {
		dialer = *cfg.Dialer
	}
	var err error
	p := &Proxy{
		cfg:       cfg,
		dialer:    checkedDialer(dialer),
		access:    newAccessLog(cfg.AccessLog),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*clientConn]struct{}{},
		readFile:  os.ReadFile,
	}
	if u := cfg.Upstream; u != nil && u.User != nil {
		pw, _ := u.User.Password()
		p.upstreamAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.tlsClient = &tls.Config{
		RootCAs:            cfg.RootCAs,
		NextProtos:         []string{"http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}
	if cfg.CA != nil {
		p.tlsServer = &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"},
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				// The leaf names the CONNECT target, whatever the SNI says.
				return cfg.CA.Leaf(hello.Conn.(*interceptConn).host)
			},
		}
	}
	if p.uses, err = newUseCounts(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("egress: %v", err)
	}
	rs, err := p.load()
	if err != nil {
		return nil, err
	}
	p.routes.Store(rs)
	p.grantsLoaded(rs)
	if cfg.RootCAs == nil && !haveSystemRoots() {
		// A FROM-scratch image has no /etc/ssl: every intercepted host
		// would fail verification, so say why once, up front.
		fmt.Fprintln(cfg.Log, "egress: warning: no trusted root certificates (the system store is empty; set SSL_CERT_FILE or mount a CA bundle at /etc/ssl/certs/ca-certificates.crt): intercepted https hosts will get 502")
	}
	fmt.Fprintf(cfg.Log, "egress: loaded %d route(s)\n", rs.Len())
	return p, nil
}

func haveSystemRoots() bool {
	pool, err := x509.SystemCertPool()
	//lint:ignore SA1019 Subjects is accurate for the Linux system pool, which is read from files
	return err == nil && len(pool.Subjects()) > 0
}

// Routes returns the routes in force.
func (p *Proxy) Routes() *Routes { return p.routes.Load() }

// Reload re-reads the routes file. On success the new routes serve every
// request that starts from now on; on failure the previous routes stay.
// Either way it logs one line, and returns the error.
func (p *Proxy) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	rs, err := p.load()
	if err != nil {
		msg := strings.Replace(err.Error(), ":\n  ", ": ", 1) // one log line, every error
		msg = strings.ReplaceAll(msg, "\n  ", "; ")
		fmt.Fprintf(p.cfg.Log, "egress: reload failed: %s; keeping %d route(s)\n", msg, p.routes.Load().Len())
		return err
	}
	p.routes.Store(rs)
	p.grantsLoaded(rs)
	fmt.Fprintf(p.cfg.Log, "egress: loaded %d route(s)\n", rs.Len())
	if cut := p.cutTunnels(rs); len(cut) > 0 {
		fmt.Fprintf(p.cfg.Log, "egress: closed %d tunnel(s) the new routes no longer allow untouched: %s\n", len(cut), strings.Join(cut, ", "))
	}
	return nil
}

// cutTunnels closes the plain tunnels whose host rs no longer routes, or
// routes with rules that need interception (the tunnel would bypass
// them), or on ports or at special addresses the route no longer allows,
// and returns their targets. Requests on other connections are
// checked against the routes one by one, so only tunnels need this.
func (p *Proxy) cutTunnels(rs *Routes) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var cut []string
	for cc := range p.conns {
		cc.mu.Lock()
		host, target, addr := cc.tunnelHost, cc.tunnelTarget, cc.tunnelAddr
		cc.mu.Unlock()
		if host == "" || cc.cut.Load() {
			continue
		}
		if !plainTunnelAllowed(rs.Match(host), target, addr) {
			cc.cut.Store(true)
			cc.raw.Close()
			cc.closeUpstream()
			cut = append(cut, target)
		}
	}
	sort.Strings(cut)
	return cut
}

// plainTunnelAllowed reports whether route r allows a plain tunnel to
// target (host:port) connected to addr (invalid: through the next proxy):
// no rules that need interception, the port, and the address.
func plainTunnelAllowed(r *Route, target string, addr netip.Addr) bool {
	if r == nil || r.Intercepts() || r.Expired(time.Now()) {
		return false
	}
	if addr.IsValid() && checkAddr(addr, r.Private) != nil {
		return false
	}
	_, port, err := net.SplitHostPort(target)
	return err == nil && r.AllowsPort(port)
}

// Reading a file the host may be rewriting in place (see readStable).
const (
	settleDelay = 20 * time.Millisecond
	settleReads = 10
)

// readStable reads the routes file until two reads, settleDelay apart,
// agree. The host writes routes.yaml in place (truncate, then write), so a
// read can see a prefix of the new text. A prefix cut mid-line fails to
// parse, but one cut exactly at a line end can be valid YAML and more
// permissive than the whole file: "- host: x" without the "paths:" or
// "methods:" lines that followed it. Waiting for the content to stop
// changing closes that window for any writer that finishes within
// settleDelay; a file still changing after settleReads reads is rejected.
func (p *Proxy) readStable() ([]byte, error) {
	prev, err := p.readFile(p.cfg.RoutesFile)
	if err != nil {
		return nil, err
	}
	for i := 0; i < settleReads; i++ {
		time.Sleep(settleDelay)
		cur, err := p.readFile(p.cfg.RoutesFile)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(prev, cur) {
			return cur, nil
		}
		prev = cur
	}
	return nil, fmt.Errorf("%s: still changing after %d reads %v apart (being written?)", p.cfg.RoutesFile, settleReads+1, settleDelay)
}

// load reads and checks the routes file against what this proxy can do.
func (p *Proxy) load() (*Routes, error) {
	data, err := p.readStable()
	if err != nil {
		return nil, err
	}
	rs, err := ParseRoutes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.cfg.RoutesFile, err)
	}
	var errs []string
	for _, r := range rs.Routes {
		if r.Intercepts() && p.cfg.CA == nil {
			errs = append(errs, fmt.Sprintf("line %d: host: %s has paths, methods or inject, which need TLS interception, but the proxy has no CA (--ca)", r.Line, r.Host))
		}
		if r.Inject != nil && p.cfg.Getenv(r.Inject.Env) == "" {
			fmt.Fprintf(p.cfg.Log, "egress: warning: %s line %d: inject.env: %s is not set; requests to %s will get 502\n",
				p.cfg.RoutesFile, r.Line, r.Inject.Env, r.Host)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %s", p.cfg.RoutesFile, strings.Join(errs, "; "))
	}
	return rs, nil
}

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
		c = wrapFast(c, p.cfg.Spin)
		cc := &clientConn{raw: c, client: c.RemoteAddr().String()}
		ok, busy := p.track(cc)
		if !ok {
			c.Close()
			continue
		}
		go func() {
			defer p.untrack(cc)
			defer c.Close()
			if busy {
				p.refuseBusy(cc, c)
				return
			}
			p.serveConn(cc, c, newReader(c), nil)
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

// normalizePrefixes masks each prefix and rewrites IPv4-mapped IPv6 ones
// (::ffff:10.0.0.0/104) as IPv4, the form peers are compared in.
func normalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, pr := range ps {
		if a := pr.Addr(); a.Is4In6() && pr.Bits() >= 96 {
			pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96)
		}
		out = append(out, pr.Masked())
	}
	return out
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

// maxConns bounds the client connections served at once (tunnels
// included): each holds buffers, goroutines and often an upstream
// connection, and the egress container has no memory limit of its own. A
// connection over the limit gets a 503 and is closed.
var maxConns = 1024

// track registers cc. ok is false during Shutdown; busy reports that
// maxConns connections are already being served.
func (p *Proxy) track(cc *clientConn) (ok, busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutting.Load() {
		return false, false
	}
	busy = len(p.conns) >= maxConns
	p.conns[cc] = struct{}{}
	p.wg.Add(1)
	return true, busy
}

// refuseBusy answers a connection over maxConns, without reading it.
func (p *Proxy) refuseBusy(cc *clientConn, c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	bw := bufio.NewWriterSize(c, 512)
	e := &accessEntry{start: time.Now(), Client: cc.client, Decision: "reject"}
	p.refuse(bw, e, http.StatusServiceUnavailable, fmt.Sprintf("too many connections (%d); close some and retry", maxConns), false)
}

func (p *Proxy) untrack(cc *clientConn) {
	p.mu.Lock()
	delete(p.conns, cc)
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

func (cc *clientConn) closeUpstream() {
	cc.mu.Lock()
	if cc.up != nil {
		cc.up.Close()
	}
	cc.mu.Unlock()
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

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, maxHeaderBytes) }
