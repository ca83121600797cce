package gitgate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/bottle-sh/bottle/gitgate/policy"
)

// Config is what the gate needs to run.
type Config struct {
	PolicyFile     string         // the policy, re-read by Reload
	Clients        []netip.Prefix // the only peers served; empty serves all (tests)
	KeyFile        string         // SSH private key for ssh upstreams
	KnownHostsFile string         // known_hosts for ssh upstreams
	Records        io.Writer      // decision records and policy events, one JSON line each
	AuditFile      string         // when set, push decisions are appended here too
	Log            io.Writer      // status lines for the operator (stderr)
	Getenv         func(string) string
	Now            func() time.Time
	IdleBody       time.Duration // longest wait for a request body's next bytes; 60s when 0
	// UpstreamPerMinute bounds the connections the gate opens to the
	// upstreams (defaultUpstreamPerMinute when 0).
	UpstreamPerMinute int
}

// Gate serves git smart HTTP for the remotes of its policy.
type Gate struct {
	cfg    Config
	policy atomic.Pointer[policy.Policy]
	out    sync.Mutex // serialises lines on Records
	pushes chan struct{}
	scan   *secretScanner
	// upstreams meters connections to the upstreams: an agent in a loop
	// must not get the operator's key or token rate-limited or flagged by
	// the host, which would stop the operator's own work too.
	upstreams *rate.Limiter
	meterMu   sync.Mutex // serialises the meter's reservations (reserve)
}

// defaultUpstreamPerMinute is enough for a clone or fetch or push every
// two seconds (each opens two connections), sustained, and as a burst.
const defaultUpstreamPerMinute = 60

// upstreamWait is the longest a request waits for the meter; past it the
// agent is told when to try again.
const upstreamWait = 5 * time.Second

// maxConcurrentPushes bounds the memory pushes in flight hold (each up to
// its remote's max_push, and its objects inflated).
const maxConcurrentPushes = 2

// New reads the policy and returns a gate, or an error naming the file
// and line of what is wrong with it.
func New(cfg Config) (*Gate, error) {
	if cfg.Records == nil {
		cfg.Records = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleBody == 0 {
		cfg.IdleBody = defaultIdleBody
	}
	if cfg.UpstreamPerMinute == 0 {
		cfg.UpstreamPerMinute = defaultUpstreamPerMinute
	}
	g := &Gate{cfg: cfg, pushes: make(chan struct{}, maxConcurrentPushes), scan: &secretScanner{},
		upstreams: rate.NewLimiter(rate.Limit(cfg.UpstreamPerMinute)/60, cfg.UpstreamPerMinute)}
	data, err := readStable(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	p, err := g.parse(data)
	if err != nil {
		return nil, err
	}
	g.policy.Store(p)
	return g, nil
}

// parse is policy.Parse of the policy file's bytes, refusing also a
// remote whose token_env the gate's environment does not hold: the gate
// gets only the variables start passed it, so such a remote (a live
// policy's) could only fail at its first use.
func (g *Gate) parse(data []byte) (*policy.Policy, error) {
	p, err := policy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.cfg.PolicyFile, err)
	}
	for _, r := range p.Remotes {
		if r.TokenEnv != "" && g.cfg.Getenv(r.TokenEnv) == "" {
			return nil, fmt.Errorf("%s: token_env %s of %s is not set in the gate's environment (it holds the variables the manifest's remotes name, passed at start); name it in the manifest and restart the bottle", g.cfg.PolicyFile, r.TokenEnv, r.Name)
		}
	}
	return p, nil
}

// Policy is the policy in force.
func (g *Gate) Policy() *policy.Policy { return g.policy.Load() }

// readStable reads a file until two reads a moment apart agree, so a file
// being written in place is not taken half written (Parse also refuses a
// last line without its newline).
func readStable(file string) ([]byte, error) {
	prev, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for range 20 {
		time.Sleep(20 * time.Millisecond)
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(data, prev) {
			return data, nil
		}
		prev = data
	}
	return nil, fmt.Errorf("%s: still changing after 20 reads; write it whole and send SIGHUP again", file)
}

// policyEvent is the line Reload prints: the recipe that wrote the file
// waits for a policy_reload whose hash is the SHA-256 of what it wrote.
type policyEvent struct {
	Event   string `json:"event"`
	Hash    string `json:"hash"`
	Remotes *int   `json:"remotes,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Reload re-reads the policy file: a good file replaces the policy, a bad
// one is refused and the old policy stays. Either way one line says so.
func (g *Gate) Reload() error {
	data, err := readStable(g.cfg.PolicyFile)
	sum := sha256.Sum256(data)
	ev := policyEvent{Hash: hex.EncodeToString(sum[:])}
	var p *policy.Policy
	if err == nil {
		p, err = g.parse(data)
	}
	if err != nil {
		ev.Event, ev.Error = "policy_refused", err.Error()
		g.writeLine(ev)
		fmt.Fprintf(g.cfg.Log, "git-gate: policy refused, the old one stays: %v\n", err)
		return err
	}
	g.policy.Store(p)
	n := len(p.Remotes)
	ev.Event, ev.Remotes = "policy_reload", &n
	g.writeLine(ev)
	fmt.Fprintf(g.cfg.Log, "git-gate: policy reloaded: %d remote(s)\n", n)
	return nil
}

func (g *Gate) writeLine(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		return
	}
	g.out.Lock()
	defer g.out.Unlock()
	_, _ = g.cfg.Records.Write(append(line, '\n'))
}

// Serve serves the gate on ln until it is closed. Peers outside Clients
// are closed unread.
func (g *Gate) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	return srv.Serve(&clientListener{Listener: ln, gate: g})
}

// clientListener drops connections from outside the gate's clients.
type clientListener struct {
	net.Listener
	gate *Gate
}

func (l *clientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.gate.clientAllowed(c.RemoteAddr()) {
			return c, nil
		}
		fmt.Fprintf(l.gate.cfg.Log, "git-gate: refused a connection from %s: outside --clients\n", c.RemoteAddr())
		c.Close()
	}
}

func (g *Gate) clientAllowed(a net.Addr) bool {
	if len(g.cfg.Clients) == 0 {
		return true
	}
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	addr := tcp.AddrPort().Addr().Unmap()
	for _, pr := range g.cfg.Clients {
		if pr.Contains(addr) {
			return true
		}
	}
	return false
}

var remotePath = regexp.MustCompile(`^/([a-z0-9][a-z0-9._-]*?)(?:\.git)?/(info/refs|git-upload-pack|git-receive-pack)$`)

// ServeHTTP routes /<remote>/info/refs, /<remote>/git-upload-pack and
// /<remote>/git-receive-pack.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := remotePath.FindStringSubmatch(r.URL.Path)
	if m == nil || strings.Contains(m[1], "..") {
		http.Error(w, "bottle git gate: not a git path; remotes are served at /<remote name>/", http.StatusNotFound)
		return
	}
	name, what := m[1], m[2]
	pol := g.policy.Load()
	remote := pol.Remote(name)
	switch {
	case what == "info/refs" && r.Method == http.MethodGet:
		service := r.URL.Query().Get("service")
		if service != "git-upload-pack" && service != "git-receive-pack" {
			http.Error(w, "bottle git gate: only smart HTTP is served (git-upload-pack, git-receive-pack)", http.StatusForbidden)
			return
		}
		if remote == nil {
			g.refuseAdvert(w, service, name, fmt.Sprintf("bottle git gate: no remote %q in the gate's policy (it has %s); ask the operator to add it", name, remoteNames(pol)))
			return
		}
		if service == "git-upload-pack" {
			g.advertiseFetch(w, r, remote)
		} else {
			g.advertisePush(w, r, remote)
		}
	case what == "git-upload-pack" && r.Method == http.MethodPost && remote != nil:
		g.uploadPack(w, r, remote)
	case what == "git-receive-pack" && r.Method == http.MethodPost && remote != nil:
		g.receivePack(w, r, remote)
	case remote == nil:
		http.Error(w, fmt.Sprintf("bottle git gate: no remote %q in the gate's policy", name), http.StatusNotFound)
	default:
		http.Error(w, "bottle git gate: method not allowed", http.StatusMethodNotAllowed)
	}
}

func remoteNames(p *policy.Policy) string {
	if len(p.Remotes) == 0 {
		return "none"
	}
	var names []string
	for _, r := range p.Remotes {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

// defaultIdleBody bounds how long the gate waits for the next bytes of a
// request body: a client trickling bytes (slowloris) is cut after this.
const defaultIdleBody = 60 * time.Second

// requestBody is r's body, gunzipped when git compressed it, with an idle
// deadline renewed on each read and at most limit bytes.
func (g *Gate) requestBody(w http.ResponseWriter, r *http.Request, limit int64) (io.Reader, error) {
	rc := http.NewResponseController(w)
	var body io.Reader = &idleReader{r: r.Body, rc: rc, idle: g.cfg.IdleBody}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := newGzip(body)
		if err != nil {
			return nil, err
		}
		body = zr
	}
	return &limitedReader{r: body, n: limit}, nil
}

type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	_ = i.rc.SetReadDeadline(time.Now().Add(i.idle))
	return i.r.Read(p)
}

// errTooLarge is a request body past its limit.
var errTooLarge = errors.New("request too large")

// limitedReader reads at most n bytes, then fails with errTooLarge if more
// follow (io.LimitReader would end quietly, as if the body ended).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		for {
			n, err := l.r.Read(one[:])
			if n > 0 {
				return 0, errTooLarge
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
