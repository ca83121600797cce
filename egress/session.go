package egress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
)

// session is one stream of requests from a client: those on a connection
// to the proxy's port, or the decrypted ones inside an intercepted CONNECT
// (tgt then names the CONNECT target). One goroutine serves it, one
// request at a time.
type session struct {
	p    *Proxy
	cc   *clientConn // the accepted connection, which Shutdown and reloads see
	c    net.Conn    // what requests are read from and answered on
	br   *bufio.Reader
	bw   *bufio.Writer
	tgt  *interceptConn // nil on the proxy's port
	up   upstream       // the upstream connection pinned to this session
	memo connMemo
	ent  accessEntry // the request's log line: one request at a time, logged before the next

	// armed is the read deadline now on c (zero: none). It is set only
	// when it must change: each change arms a runtime timer, and arming
	// one can wake a second thread, a context switch per request on a
	// keep-alive connection.
	armed time.Time
}

func (p *Proxy) newSession(cc *clientConn, c net.Conn, br *bufio.Reader, tgt *interceptConn) *session {
	return &session{p: p, cc: cc, c: c, br: br, bw: bufio.NewWriterSize(c, 4<<10), tgt: tgt}
}

// target is where a request goes.
type target struct{ scheme, host, port string }

// serve answers requests until the client closes, asks to close, or a
// request cannot be answered in a way that keeps the connection in sync.
func (s *session) serve() {
	defer s.up.close()
	for {
		req, head, ok := s.next()
		if !ok || !s.handle(req, head) {
			return
		}
	}
}

func (s *session) deadline(t time.Time) {
	if !t.Equal(s.armed) {
		s.c.SetReadDeadline(t)
		s.armed = t
	}
}

// next waits for the next request and reads its head. When it cannot, it
// has answered what needed an answer, and ok is false.
func (s *session) next() (req *http.Request, head rawHead, ok bool) {
	s.cc.idle.Store(true)
	if s.p.shutting.Load() {
		return nil, head, false
	}
	// Idle: the deadline moves on only once less than
	// idleTimeout-idleSlack of it is left.
	if now := time.Now(); s.armed.IsZero() || s.armed.Sub(now) < idleTimeout-idleSlack {
		s.deadline(now.Add(idleTimeout))
	}
	if _, err := s.br.Peek(1); err != nil {
		return nil, head, false
	}
	s.cc.idle.Store(false)
	start := time.Now()
	if !headBuffered(s.br) {
		s.deadline(start.Add(s.p.cfg.HeaderTimeout)) // the whole head, however it trickles in
	}
	head, err := scanHead(s.br)
	if err == nil {
		req, err = http.ReadRequest(s.br)
	}
	if err != nil || req.Method == http.MethodConnect || req.ContentLength != 0 {
		s.deadline(time.Time{}) // a tunnel or a request body takes as long as it takes
	}
	// Logged: the method and the host only, and only what parses as
	// such; never the raw target (a query string, junk) or Go's error
	// text (it quotes header lines).
	s.ent = accessEntry{start: start, Client: s.cc.client, Method: head.method, Host: targetHost(head.method, head.target)}
	if err == nil && head.method == http.MethodConnect {
		if _, _, perr := splitHostPort(head.target, ""); perr != nil {
			s.reject(http.StatusBadRequest, "bad CONNECT target", "CONNECT "+perr.Error())
			return nil, head, false
		}
	}
	if err != nil {
		s.malformed(err)
		return nil, head, false
	}
	return req, head, true
}

// malformed answers a request head that did not parse.
func (s *session) malformed(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err) {
		return // the client went away mid-request: nobody to answer
	}
	if errors.Is(err, errHeaderTooLarge) {
		s.reject(http.StatusRequestHeaderFieldsTooLarge, "request head too large", "malformed request: "+err.Error())
		return
	}
	s.reject(http.StatusBadRequest, "malformed request", "malformed request: "+err.Error())
}

// handle answers one request and reports whether the connection may serve
// another.
func (s *session) handle(req *http.Request, head rawHead) bool {
	rs := s.p.routes.Load() // this request's routes, whatever reloads happen meanwhile
	s.ent.Method = req.Method
	s.ent.Path = req.URL.EscapedPath()
	if head.clAndTE {
		s.ent.Path = ""
		return s.badRequest("both Content-Length and Transfer-Encoding", "both Content-Length and Transfer-Encoding are set; send one")
	}
	if req.Method == http.MethodConnect {
		s.ent.Path = ""
		if s.tgt != nil {
			return s.badRequest("CONNECT inside an intercepted connection", "CONNECT inside an intercepted connection")
		}
		s.connect(req, rs)
		return false
	}
	dest, ok := s.destination(req, head)
	if !ok {
		return false
	}
	keep := !req.Close
	if s.tgt == nil && dest.host == AgentHost {
		return s.serveAgent(req, keep) // the egress's own API, never fetched
	}
	s.ent.Mode = ModeHTTP
	if s.tgt != nil {
		s.ent.Mode = ModeIntercept
	}
	route := s.memo.match(rs, dest.host)
	secret, ok, next := s.admit(route, req, dest, keep)
	if !ok {
		return next
	}
	return s.forward(req, route, dest, secret, keep)
}

// destination is the host a request is for: on the proxy's port the
// absolute URL's, never the Host header's; inside an intercepted tunnel
// the CONNECT target's. When it is not ok, the request has been answered.
func (s *session) destination(req *http.Request, head rawHead) (target, bool) {
	if s.tgt != nil {
		dest := target{"https", s.tgt.host, s.tgt.port}
		s.ent.Host = dest.host
		authority := req.Host // origin-form: the Host header; absolute-form: the URL's host
		if req.URL.IsAbs() && req.URL.Scheme != "https" {
			return dest, s.badRequest("scheme not https inside a TLS tunnel", fmt.Sprintf("scheme %q inside a TLS tunnel", req.URL.Scheme))
		}
		if authority != "" && !s.memo.sameHost(authority, s.tgt.hostport(), "443") {
			s.reject(http.StatusMisdirectedRequest, "request names another host than the CONNECT target",
				fmt.Sprintf("request for %q does not name the CONNECT target %s", authority, dest.host))
			return dest, false
		}
		return dest, true
	}
	if req.URL.Scheme == "" || req.URL.Host == "" {
		return target{}, s.badRequest("not a proxy request", "this is a proxy: send absolute-form requests (GET http://host/path) or CONNECT host:port")
	}
	if req.URL.Scheme != "http" {
		return target{}, s.badRequest("scheme not http", fmt.Sprintf("scheme %q: send https through CONNECT host:443", req.URL.Scheme))
	}
	host, port, err := splitHostPort(req.URL.Host, "80")
	if err != nil {
		return target{}, s.badRequest("bad host or port", err.Error())
	}
	s.ent.Host = host
	if head.host != "" && !s.memo.sameHost(head.host, req.URL.Host, "80") {
		return target{}, s.badRequest("Host header disagrees with the URL", fmt.Sprintf("Host header %q disagrees with the request URL's host %q", head.host, req.URL.Host))
	}
	return target{"http", host, port}, true
}

// admit checks req against its route, and returns the secret to inject
// ("" for none). When it refuses (ok false) it has answered, and next
// reports whether the connection may serve another request.
func (s *session) admit(route *routes.Route, req *http.Request, dest target, keep bool) (secret string, ok, next bool) {
	e, host, file := &s.ent, dest.host, s.p.cfg.RoutesFile
	deny := func(reason, msg string) (string, bool, bool) {
		e.Decision, e.Reason = "deny", reason
		s.refuse(http.StatusForbidden, msg, keep)
		return "", false, keep && drain(req)
	}
	if route == nil {
		return deny(ReasonNoRoute, fmt.Sprintf("%s is not in the routes file (%s)", host, file))
	}
	e.Route = route.Host
	e.routeMethods = route.Methods
	if len(route.Paths) > 0 && ambiguousPath(e.Path) {
		e.Reason = ReasonAmbiguous
		return "", false, s.badRequest("ambiguous path", fmt.Sprintf("path %q has dot segments or encoded slashes; the route on line %d allows only some paths", e.Path, route.Line))
	}
	if why := refusal(route, req.Method, e.Path); why != "" {
		return deny(why, fmt.Sprintf("%s %s on %s is not allowed by the route on line %d of %s (%s)",
			req.Method, e.Path, host, route.Line, file, route.Rules()))
	}
	if why := refusesHeaders(route, req); why != "" {
		return deny(ReasonHeader, fmt.Sprintf("%s on %s: %s (the route on line %d of %s)", req.Method, host, why, route.Line, file))
	}
	if route.Inject != nil && s.tgt == nil {
		return deny(ReasonCleartext, fmt.Sprintf("the route for %s injects a credential; use https (CONNECT) so it never crosses the network in clear", host))
	}
	if route.Inject != nil && (req.Method == "TRACE" || req.Method == "TRACK") {
		return deny(ReasonMethod, fmt.Sprintf("%s is never sent on the route for %s (line %d of %s): it injects a credential, and %s echoes the request, credential included, back", req.Method, host, route.Line, file, req.Method))
	}
	if !route.AllowsPort(dest.port) {
		return deny(ReasonPort, portRefusal(host, dest.port, route, file))
	}
	if why, msg := s.p.grantRefusal(route, true); why != "" {
		return deny(why, msg)
	}
	if route.Inject != nil {
		if secret = s.p.cfg.Getenv(route.Inject.Env); secret == "" {
			e.Decision = "error"
			s.refuse(http.StatusBadGateway, fmt.Sprintf("the route for %s injects %s from $%s, which is not set in the egress sidecar", host, route.Inject.Header, route.Inject.Env), keep)
			return "", false, keep && drain(req)
		}
	}
	return secret, true, false
}

// forward sends req to dest and the response back to the client, and
// reports whether the connection may serve another request.
func (s *session) forward(req *http.Request, route *routes.Route, dest target, secret string, keep bool) bool {
	e := &s.ent
	hostport := authorityOf(dest.scheme, dest.host, dest.port)
	if s.tgt != nil {
		hostport = s.tgt.authority()
	}
	// The client's header, stripped, is the one sent on: read what the
	// proxy needs of it first.
	expect := strings.EqualFold(req.Header.Get("Expect"), "100-continue")
	out := outRequest(req, dest.scheme, hostport)
	if route.Inject != nil {
		inject(out.Header, route.Inject.Header, secret)
	}
	if expect {
		out.Header.Del("Expect")
		s.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if s.bw.Flush() != nil {
			return false
		}
	}
	resp, err := s.p.roundTrip(s.cc, &s.up, out, route.Private)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		s.up.close()
		err = errUpgrade
	}
	if err != nil {
		s.refuseDial(dest.host, route, err, false)
		return false
	}
	defer resp.Body.Close()
	e.Decision = "allow"
	if route.Inject != nil {
		e.Inject = route.Inject.Header
	}
	e.Status = resp.StatusCode
	closeAfter, err := writeResponse(s.bw, req, resp, &e.Bytes)
	s.up.done(resp, err == nil)
	if err != nil {
		e.Error = upstreamError(err)
		keep = false
	}
	s.p.access.write(e)
	return keep && !closeAfter && drain(req)
}

// outRequest is req as it is sent to scheme://hostport: HTTP/1.1, without
// hop-by-hop headers (the client's header map, stripped in place), and no
// User-Agent of the proxy's own.
func outRequest(req *http.Request, scheme, hostport string) *http.Request {
	out := &http.Request{
		Method:        req.Method,
		URL:           &url.URL{Scheme: scheme, Host: hostport, Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        stripHopByHop(req.Header),
		Body:          &requestBody{r: req.Body},
		ContentLength: req.ContentLength,
		Host:          hostport,
	}
	if req.ContentLength == 0 {
		out.Body = nil
	} else {
		req.Body = out.Body // drain reads what the upstream write left
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // add none of our own
	}
	return out
}

// inject sets header to secret in h. The client's value never leaves, nor
// one under a spelling with "_" for "-" (x_api_key), which servers that
// map one to the other (CGI, nginx with underscores_in_headers) read as it.
func inject(h http.Header, header, secret string) {
	for k := range h {
		if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), header) {
			delete(h, k)
		}
	}
	h.Set(header, secret)
}
