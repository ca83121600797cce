package egress

import (
	"bytes"
	"cmp"
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
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
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

	// StateDir, when set, is a directory the egress may write: it keeps
	// the use counts of routes with uses: there (grants.go), so that a
	// restart does not reset them.
	StateDir string

	AccessLog io.Writer // one JSON line per request; nil discards
	Log       io.Writer // "egress: loaded N route(s)" and reload failures; nil discards

	// Limits on clients; zero takes the default (tests shorten them).
	// Upstream responses have no deadline: model APIs stream for minutes.
	HeaderTimeout    time.Duration // for a whole request head, however it trickles in; default 30s
	MaxConns         int           // client connections served at once, tunnels included; default 1024
	HalfCloseTimeout time.Duration // for a tunnel's other direction once one has ended; default 5 minutes

	// AtRest, when set, is called once the proxy has started with no
	// connection, and then once no connection has been open for RestAfter
	// (default 30s), and after each Reload while at rest; Woken when the
	// first connection after a rest comes, before it is served. bottle egress hands back there what starting
	// or serving took, and stops the collector while nothing happens. It
	// is one timer, armed when the last connection closes: nothing runs
	// while the proxy is idle.
	AtRest, Woken func()
	RestAfter     time.Duration

	// BeforeTunnel, when set, runs between a CONNECT's route check and
	// the tunnel's registration for reloads: where tests slip a reload in.
	BeforeTunnel func()
}

// Proxy is the egress proxy. Create it with New, serve with Serve, change
// its routes with Reload, stop it with Shutdown.
type Proxy struct {
	cfg       Config
	routes    atomic.Pointer[routes.Routes]
	reloadMu  sync.Mutex
	readFile  func(string) ([]byte, error) // os.ReadFile; tests stub it
	tlsClient *tls.Config                  // to real hosts; cloned per connection for ServerName
	tlsServer *tls.Config
	dialer    *net.Dialer // Config.Dialer with the address check (private.go)
	access    *accessLog
	// upstreamAuth is the Proxy-Authorization value for the next proxy
	// (from --upstream's user:password), "" without credentials.
	upstreamAuth string

	uses      *useCounts   // requests counted against routes with uses: (grants.go)
	book      *requestBook // access requests, asked and from denials (requests.go)
	agentOnce sync.Once
	agent     http.Handler // the agent API (agentapi.go)
	expiryMu  sync.Mutex
	expiry    *time.Timer // cuts plain tunnels at the next route expiry

	ctx    context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*clientConn]struct{}
	shutting  atomic.Bool
	wg        sync.WaitGroup
	rest      *time.Timer // runs goRest; armed when the last connection closes

	restMu sync.Mutex // held across AtRest and Woken
	rested bool       // AtRest was called, Woken not since
}

// Timeouts and limits for the client side; Config can change the first three.
const (
	headerTimeout    = 30 * time.Second
	maxConns         = 1024 // each holds buffers, goroutines and often an upstream connection
	halfCloseTimeout = idleTimeout
	idleTimeout      = 5 * time.Minute
	idleSlack        = 30 * time.Second // an idle keep-alive connection closes after 4.5-5 minutes
	restAfter        = 30 * time.Second
	handshakeTimeout = 10 * time.Second
	maxHeaderBytes   = 16 << 10
)

// New loads the routes file and returns a proxy ready to Serve. It logs
// "egress: loaded N route(s)".
func New(cfg Config) (*Proxy, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	dialer := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	if cfg.Dialer != nil {
		dialer = *cfg.Dialer
	}
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
	p.setTLS()
	var err error
	if p.uses, err = newUseCounts(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("egress: %v", err)
	}
	if p.book, err = newRequestBook(cfg.StateDir, cfg.Log); err != nil {
		return nil, fmt.Errorf("egress: %v", err)
	}
	p.access.onDeny = func(e *accessEntry) { p.book.denied(e, e.start) }
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
	if cfg.AtRest != nil {
		p.rest = time.AfterFunc(0, p.goRest)
	}
	return p, nil
}

// check validates cfg and fills in its defaults.
func (cfg *Config) check() error {
	if cfg.RoutesFile == "" {
		return errors.New("egress: no routes file")
	}
	if cfg.Upstream != nil && cfg.Upstream.Scheme != "http" {
		return fmt.Errorf("egress: upstream %s: only http:// proxies are supported", cfg.Upstream)
	}
	for _, pr := range cfg.Clients {
		if !pr.IsValid() {
			return fmt.Errorf("egress: clients: %v is not a network", pr)
		}
	}
	if cfg.HeaderTimeout < 0 || cfg.MaxConns < 0 || cfg.HalfCloseTimeout < 0 || cfg.RestAfter < 0 {
		return errors.New("egress: HeaderTimeout, MaxConns, HalfCloseTimeout and RestAfter cannot be negative")
	}
	cfg.Clients = routes.NormalizePrefixes(cfg.Clients)
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cfg.HeaderTimeout = cmp.Or(cfg.HeaderTimeout, headerTimeout)
	cfg.MaxConns = cmp.Or(cfg.MaxConns, maxConns)
	cfg.HalfCloseTimeout = cmp.Or(cfg.HalfCloseTimeout, halfCloseTimeout)
	cfg.RestAfter = cmp.Or(cfg.RestAfter, restAfter)
	return nil
}

// setTLS makes the TLS configurations: to real hosts, and (with a CA) to
// intercepted clients.
func (p *Proxy) setTLS() {
	cfg := p.cfg
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
}

func haveSystemRoots() bool {
	pool, err := x509.SystemCertPool()
	//lint:ignore SA1019 Subjects is accurate for the Linux system pool, which is read from files
	return err == nil && len(pool.Subjects()) > 0
}

// Routes returns the routes in force.
func (p *Proxy) Routes() *routes.Routes { return p.routes.Load() }

// Reload re-reads the routes file. On success the new routes serve every
// request that starts from now on; on failure the previous routes stay.
// Either way it logs one line, and returns the error.
func (p *Proxy) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	defer p.restAgain()
	rs, err := p.load()
	if err != nil {
		msg := strings.Replace(err.Error(), ":\n  ", ": ", 1) // one log line, every error
		msg = strings.ReplaceAll(msg, "\n  ", "; ")
		fmt.Fprintf(p.cfg.Log, "egress: reload failed: %s; keeping %d route(s)\n", msg, p.routes.Load().Len())
		return err
	}
	p.routes.Store(rs)
	p.grantsLoaded(rs)
	p.book.loadAnswers()
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
func (p *Proxy) cutTunnels(rs *routes.Routes) []string {
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
func plainTunnelAllowed(r *routes.Route, target string, addr netip.Addr) bool {
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
func (p *Proxy) load() (*routes.Routes, error) {
	data, err := p.readStable()
	if err != nil {
		return nil, err
	}
	rs, err := routes.Parse(data)
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
