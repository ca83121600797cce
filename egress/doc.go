// Package egress is the egress sidecar, `bottle egress`: an HTTP proxy that
// is a bottle's only way out, and lets through only what routes.yaml allows.
//
// # Surface
//
// The routes format (parse, validate, match) is package egress/routes,
// which imports nothing of the proxy; builtins' routes_check uses it too.
// The command, `bottle egress` (flags, signals, exit codes), is
// cmd/bottle/egress.go.
//
//	LoadCA(dir) (*CA, error)               ca.crt/ca.key as ca_create writes them (or cert.pem/key.pem)
//	(*CA).Leaf(host) (*tls.Certificate, error)  a cached leaf for host, minted on first use
//	New(Config) (*Proxy, error)            load the routes; logs "egress: loaded N route(s)"
//	(*Proxy).Serve(ln) error               serve until Shutdown
//	(*Proxy).Reload() error                re-read the routes file; keep the old routes on any error
//	(*Proxy).Shutdown(ctx) error           stop accepting, drain, close what is left when ctx ends
//	(*Proxy).Routes() *routes.Routes       the routes in force
//	Listen(addr, clients) ([]net.Listener, error)  addr's listener; with clients and no host, one per own address inside them
//	ParseClients(s) ([]netip.Prefix, error)  "CIDR,CIDR...", as --clients takes them
//	Decide(rs, Query) (Verdict, error)     what the proxy would do with a request, sent nowhere (decide.go)
//	GrantKey(route), ReadUseCounts(file)   the use counts of routes with uses: (uses.json in Config.StateDir)
//	OpenRotating(path, max, keep), DecisionFiles(dir)  the decision log's writer and files, oldest first
//	ReadRequests(dir) ([]AccessRequest, error)  a bottle's access requests, with the operator's answers applied
//	BatchWriter{W, Interval}               access-log writer that batches lines (bottle egress uses 50 ms)
//
// Config's limits (HeaderTimeout, MaxConns, HalfCloseTimeout) and its
// BeforeTunnel hook are for tests; zero values are the defaults below.
//
// # Files
//
//	proxy.go     Config, New, Reload (and the tunnels a reload cuts)
//	conns.go     Serve, Shutdown, the connection limit, Config.Clients
//	session.go   one stream of requests: read, route, admit, forward
//	head.go      the raw request head, scanned before net/http parses it
//	host.go      hosts and ports as routed on, and the per-connection memo
//	respond.go   refusals (403, 400...) and responses to the client
//	tunnel.go    CONNECT: plain tunnels and interception
//	upstream.go  the upstream connection pinned to a client connection
//	private.go   the address check in the dialer
//	grants.go    expires: and uses: (the use counts, the expiry timer)
//	decide.go    Decide, the proxy's checks without the proxy (bottle routes check)
//	decisions.go the decision log on the host: decisions.jsonl in Config.StateDir, rotated
//	agentapi.go  the agent API at http://bottle.internal/ (MCP at /mcp, JSON at /v1/), served, never fetched
//	requests.go  access requests (asked, and from denials), requests.json, the host's answers.jsonl
//	rawio_*.go   socket reads and writes without the scheduler (Linux)
//	log.go       the access log; ca.go the bottle's CA; listen.go listeners
//
// # What the proxy does
//
// An absolute-form request (GET http://host/path) is routed on the URL's
// host, never on the Host header; a Host header that disagrees is a 400.
// A CONNECT is routed on its target. Hosts are compared lowercased, without
// a trailing dot and without IPv6 brackets; the host routed on is the host
// dialled (subject to the address check below). A route without ports:
// matches its host on every port ("github.com" also allows github.com:22
// for git over ssh), except a route with inject: its credential goes to
// port 443 only. "ports: [443, 8443]" limits a route to those ports.
// No route, or a path or method the route does not allow: 403 with a
// one-line body naming the host and the routes file. A CONNECT to a route without paths, methods or inject is a
// plain tunnel: the proxy never sees the bytes. A CONNECT to a route with
// them is intercepted: the proxy answers the TLS handshake with a leaf for
// the CONNECT target signed by the bottle's CA, and checks every request
// inside against the routes in force when that request arrives. Inside,
// the CONNECT target is the only host: a request whose Host header or
// absolute URL names another host is a 421, and every request goes to the
// target, whatever SNI the client sent. A plain tunnel carries whatever
// the client sends to the target's address, so what it allows is "this
// host's servers", not "this host's name": a server that serves other
// names (a CDN) is reachable under them. Give such hosts a rule (e.g.
// paths: ["/"]) to have them intercepted and checked per request.
// Once one direction of a plain tunnel ends, the other has 5 minutes.
// Upstream TLS is verified against the system roots (SSL_CERT_FILE honoured) or
// Config.RootCAs. Inject deletes the client's header (and any spelling of
// it with "_" for "-", x_api_key, which some servers read as x-api-key)
// and sets the value of an environment variable of the sidecar; a route
// with inject refuses plain http, which would put the secret on the wire
// in clear. A route with inject carries every method but TRACE and TRACK
// (listed or not: the parser refuses them in its methods), which an
// upstream answers by echoing the request, credential included, back to
// the agent; CONNECT inside an intercepted connection is refused on every
// route. A route with methods also refuses requests that carry
// X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override (in any case,
// and with "_" for "-", as WSGI and CGI read them), with which a server
// would run the request as another method.
//
// Special-purpose addresses (private.go: loopback, private-use,
// link-local, CGNAT, multicast, ULA... and the IPv4-mapped, NAT64 and
// 6to4 forms of those) are not dialled unless the route opts in with
// "private: true" or "private: [CIDR, ...]". The check is the dialer's
// Control function, so it sees the address actually connected to, every
// address a name resolves to in turn, and what Config.Resolve (--resolve)
// mapped a name to. A refusal is a 403 naming the address and its block,
// logged with decision "deny" and error "private address ADDR (CLASS
// BLOCK)". Config.Upstream, the operator's next proxy, is exempt; it
// resolves the hosts behind it itself, so with one the check is its job.
//
// Config.Clients (--clients CIDR,...) are the networks the proxy serves: a
// peer outside them is closed at once, unread, with an access-log line
// (decision "reject", error "client not allowed: ADDR is outside CIDRS").
// IPv4-mapped IPv6 peers and networks count as IPv4. With --clients and a
// --listen of no host (":3128"), bottle egress listens only on its own
// addresses inside those networks, one listener each, and refuses to start
// when it has none: in a bottle the egress serves its internal network and
// does not listen on its external one, where the host and other
// containers reach it, so no one but the agent can use it (and the
// credentials it injects).
//
// Bad input gets a clear status and an access-log line with decision
// "reject", and the proxy keeps serving: a malformed request (400), a CONNECT
// to a non-numeric or out-of-range port (400), Content-Length together with
// Transfer-Encoding (400: net/http would quietly drop the Content-Length, so
// the raw head is scanned first), a head over 16 KiB (431), an IP literal
// that no route names (403, like any host without a route), dot segments
// (also "..;" and encoded dots) or encoded slashes in a path that a paths
// rule checks (400). paths rules are plain string prefixes of the escaped
// path, without the query string: "/v1" also allows "/v1beta"; write "/v1/".
// An upstream's response head may take at most 1 MiB (then 502). At most
// 1,024 client connections (tunnels included) are served at once; one more
// gets a 503 and is closed.
//
// Reload swaps one pointer: a request reads the routes once, when it
// starts, and finishes under them. A plain tunnel is one request that can
// last hours, so a reload closes the tunnels whose host the new routes drop
// or give rules that need interception, whose port they no longer list, or
// whose special address they no longer allow (private:), and logs them. A
// keep-alive upstream connection is dialled again when its route's
// private: networks change. The routes file is written in place by
// the host (truncate, then write), so a reload can read a partial file. The
// proxy reads the file until two reads 20 ms apart agree (a prefix cut at a
// line end can parse, and be more permissive than the whole file); the
// parser rejects the rest (bad YAML, a bad route, an empty file, a last
// line without its newline). On any failure the old routes keep serving.
//
// Access log: one JSON line per request on Config.AccessLog, with time,
// client, method, host, path (no query string), decision (allow, deny,
// tunnel, intercept, reject, error), route, status, bytes, duration (ms)
// and, for failures, error. Nothing else the client sent is logged: no
// header value (the Host header's neither), no raw request target; host
// is empty when the target does not parse as a host, a method neither
// standard nor in the route's methods is "OTHER", and a refusal of what
// the client sent is logged as a fixed class ("malformed request", "bad
// CONNECT target", "Host header disagrees with the URL"...), never as
// Go's error text, which quotes the line it choked on. (The 400's body,
// which only the client sees, says more.) The head is scanned up to its
// first blank line, "\n\n" or "\r\n\r\n" whichever comes first, so a
// bare-LF request followed by a pipelined one is read as two. `bottle egress`
// writes the lines in batches, at most 50 ms late, and flushes on exit.
//
// # Sockets
//
// On Linux every TCP connection is a rawConn (rawio_linux.go): its reads
// and writes are the socket's own non-blocking read(2) and write(2), made
// without entersyscall, and a read that finds nothing parks in the
// runtime's poller at once, as net.Conn's does. Nothing polls or spins, so
// an idle keep-alive connection or tunnel costs no CPU. What the raw calls
// save is a wake-up of the runtime's sysmon thread per request on a proxy
// that idles between requests: measured at one request at a time, with
// the upstream 1 ms away, net.Conn took about twice the CPU per request.
// A plain tunnel is two goroutines, one per direction; once a read fills
// its 16 KiB buffer (a download), the rest goes by io.Copy between the
// two TCP sockets, which is splice(2). (Until issue 16 the proxy also
// had read spins and a one-goroutine "hot" tunnel with an epoll instance
// of its own; measured, they saved nothing the raw calls do not:
// BENCHMARKS.md, "Egress".)
//
// # Why not goproxy
//
// github.com/elazarl/goproxy was the candidate for the MITM part. It is
// written by hand here on net/http and crypto/tls because the parts that
// matter are the parts goproxy decides for you: routing on the URL's host
// or the CONNECT target rather than the Host header, refusing conflicting
// Content-Length and Transfer-Encoding (which needs the raw head that a
// net/http server never shows a handler), logging every refusal (net/http
// answers malformed requests itself, unlogged), per-request routes snapshots
// inside an intercepted connection, and streaming responses with a flush per
// upstream read. It also lets each client connection own its upstream
// connection (no pool goroutines), which is what made it several times
// faster than squid and mitmdump (BENCHMARKS.md, "Egress"). Handled directly,
// the proxy is about 1,900 lines of code (without the routes parser and the
// command) with no dependency beyond the standard library and yaml.
package egress
