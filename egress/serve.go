package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// serveConn reads requests from one client connection until it closes, the
// client asks to close, or a request cannot be answered in a way that keeps
// the connection in sync. tgt is nil on the proxy's own port, and names the
// CONNECT target inside an intercepted TLS connection.
func (p *Proxy) serveConn(cc *clientConn, c net.Conn, br *bufio.Reader, tgt *interceptConn) {
	bw := bufio.NewWriterSize(c, 4<<10)
	var up upstream
	defer up.close()
	var memo connMemo
	var ent accessEntry // reused: one request at a time, logged before the next
	// The read deadline is set only when it must change: each change arms
	// a runtime timer, and arming one wakes a second thread, a context
	// switch per request on a keep-alive connection (see fastConn).
	var armed time.Time // the read deadline now on c; zero: none
	deadline := func(t time.Time) {
		if !t.Equal(armed) {
			c.SetReadDeadline(t)
			armed = t
		}
	}
	for {
		cc.idle.Store(true)
		if p.shutting.Load() {
			return
		}
		// Idle: the deadline moves on only once less than
		// idleTimeout-idleSlack of it is left.
		if now := time.Now(); armed.IsZero() || armed.Sub(now) < idleTimeout-idleSlack {
			deadline(now.Add(idleTimeout))
		}
		if _, err := br.Peek(1); err != nil {
			return
		}
		cc.idle.Store(false)
		start := time.Now()
		if !headBuffered(br) {
			deadline(start.Add(headerTimeout)) // the whole head, however it trickles in
		}
		head, err := scanHead(br)
		var req *http.Request
		if err == nil {
			req, err = http.ReadRequest(br)
		}
		if err != nil || req.Method == http.MethodConnect || req.ContentLength != 0 {
			deadline(time.Time{}) // a tunnel or a request body takes as long as it takes
		}
		e := &ent
		// Logged: the method and the host only, and only what parses as
		// such; never the raw target (a query string, junk) or Go's error
		// text (it quotes header lines).
		*e = accessEntry{start: start, Client: cc.client, Method: head.method, Host: targetHost(head.method, head.target)}
		if err == nil && head.method == http.MethodConnect {
			if _, _, perr := splitHostPort(head.target, ""); perr != nil {
				p.reject(bw, e, http.StatusBadRequest, "bad CONNECT target", "CONNECT "+perr.Error())
				return
			}
		}
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, errHeaderTooLarge) {
				status = http.StatusRequestHeaderFieldsTooLarge
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err) {
				return // the client went away mid-request: nobody to answer
			}
			class := "malformed request"
			if status == http.StatusRequestHeaderFieldsTooLarge {
				class = "request head too large"
			}
			p.reject(bw, e, status, class, "malformed request: "+err.Error())
			return
		}
		if !p.handle(cc, c, br, bw, &up, &memo, req, head, tgt, e) {
			return
		}
	}
}

// handle answers one request and reports whether the connection may serve
// another.
func (p *Proxy) handle(cc *clientConn, c net.Conn, br *bufio.Reader, bw *bufio.Writer, up *upstream, memo *connMemo, req *http.Request, head rawHead, tgt *interceptConn, e *accessEntry) bool {
	rs := p.routes.Load() // this request's routes, whatever reloads happen meanwhile
	e.Method = req.Method
	e.Path = req.URL.EscapedPath()
	keep := !req.Close
	reject := func(class, msg string) bool {
		p.reject(bw, e, http.StatusBadRequest, class, msg)
		return false
	}

	if head.clAndTE {
		e.Path = ""
		return reject("both Content-Length and Transfer-Encoding", "both Content-Length and Transfer-Encoding are set; send one")
	}
	if req.Method == http.MethodConnect {
		e.Path = ""
		if tgt != nil {
			return reject("CONNECT inside an intercepted connection", "CONNECT inside an intercepted connection")
		}
		p.connect(cc, c, br, bw, req, rs, e)
		return false
	}

	// Which host is this for? On the proxy port: the absolute URL's, never
	// the Host header's. Inside an intercepted tunnel: the CONNECT target's.
	var scheme, host, port string
	if tgt == nil {
		if req.URL.Scheme == "" || req.URL.Host == "" {
			return reject("not a proxy request", "this is a proxy: send absolute-form requests (GET http://host/path) or CONNECT host:port")
		}
		if req.URL.Scheme != "http" {
			return reject("scheme not http", fmt.Sprintf("scheme %q: send https through CONNECT host:443", req.URL.Scheme))
		}
		scheme = "http"
		var err error
		host, port, err = splitHostPort(req.URL.Host, "80")
		if err != nil {
			return reject("bad host or port", err.Error())
		}
		e.Host = host
		if head.host != "" && !memo.sameHost(head.host, req.URL.Host, "80") {
			return reject("Host header disagrees with the URL", fmt.Sprintf("Host header %q disagrees with the request URL's host %q", head.host, req.URL.Host))
		}
	} else {
		scheme, host, port = "https", tgt.host, tgt.port
		e.Host = host
		authority := req.Host // origin-form: the Host header; absolute-form: the URL's host
		if req.URL.IsAbs() && req.URL.Scheme != "https" {
			return reject("scheme not https inside a TLS tunnel", fmt.Sprintf("scheme %q inside a TLS tunnel", req.URL.Scheme))
		}
		if authority != "" && !memo.sameHost(authority, tgt.hostport(), "443") {
			p.reject(bw, e, http.StatusMisdirectedRequest, "request names another host than the CONNECT target",
				fmt.Sprintf("request for %q does not name the CONNECT target %s", authority, host))
			return false
		}
	}

	e.Mode = ModeHTTP
	if tgt != nil {
		e.Mode = ModeIntercept
	}
	route := memo.match(rs, host)
	if route == nil {
		e.Decision, e.Reason = "deny", ReasonNoRoute
		p.refuse(bw, e, http.StatusForbidden, fmt.Sprintf("%s is not in the routes file (%s)", host, p.cfg.RoutesFile), keep)
		return keep && drain(req)
	}
	e.Route = route.Host
	e.routeMethods = route.Methods
	if len(route.Paths) > 0 && ambiguousPath(e.Path) {
		e.Reason = ReasonAmbiguous
		return reject("ambiguous path", fmt.Sprintf("path %q has dot segments or encoded slashes; the route on line %d allows only some paths", e.Path, route.Line))
	}
	if why := route.refusal(req.Method, e.Path); why != "" {
		e.Decision, e.Reason = "deny", why
		p.refuse(bw, e, http.StatusForbidden, fmt.Sprintf("%s %s on %s is not allowed by the route on line %d of %s (%s)",
			req.Method, e.Path, host, route.Line, p.cfg.RoutesFile, route.rules()), keep)
		return keep && drain(req)
	}
	if why := route.refusesHeaders(req); why != "" {
		e.Decision, e.Reason = "deny", ReasonHeader
		p.refuse(bw, e, http.StatusForbidden, fmt.Sprintf("%s on %s: %s (the route on line %d of %s)", req.Method, host, why, route.Line, p.cfg.RoutesFile), keep)
		return keep && drain(req)
	}
	var secret string
	if route.Inject != nil {
		if tgt == nil {
			e.Decision, e.Reason = "deny", ReasonCleartext
			p.refuse(bw, e, http.StatusForbidden, fmt.Sprintf("the route for %s injects a credential; use https (CONNECT) so it never crosses the network in clear", host), keep)
			return keep && drain(req)
		}
		if req.Method == "TRACE" || req.Method == "TRACK" {
			e.Decision, e.Reason = "deny", ReasonMethod
			p.refuse(bw, e, http.StatusForbidden, fmt.Sprintf("%s is never sent on the route for %s (line %d of %s): it injects a credential, and %s echoes the request, credential included, back", req.Method, host, route.Line, p.cfg.RoutesFile, req.Method), keep)
			return keep && drain(req)
		}
	}
	if !route.AllowsPort(port) {
		e.Decision, e.Reason = "deny", ReasonPort
		p.refuse(bw, e, http.StatusForbidden, portRefusal(host, port, route, p.cfg.RoutesFile), keep)
		return keep && drain(req)
	}
	if why, msg := p.grantRefusal(route, true); why != "" {
		e.Decision, e.Reason = "deny", why
		p.refuse(bw, e, http.StatusForbidden, msg, keep)
		return keep && drain(req)
	}
	if route.Inject != nil {
		if secret = p.cfg.Getenv(route.Inject.Env); secret == "" {
			e.Decision = "error"
			p.refuse(bw, e, http.StatusBadGateway, fmt.Sprintf("the route for %s injects %s from $%s, which is not set in the egress sidecar", host, route.Inject.Header, route.Inject.Env), keep)
			return keep && drain(req)
		}
	}

	var hostport string
	if tgt != nil {
		hostport = tgt.authority()
	} else {
		hostport = authorityOf(scheme, host, port)
	}
	// The client's header, stripped, is the one sent on: read what the
	// proxy needs of it first.
	expect := strings.EqualFold(req.Header.Get("Expect"), "100-continue")
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
	if route.Inject != nil {
		// The client's value never leaves, nor one under a spelling with
		// "_" for "-" (x_api_key), which servers that map one to the
		// other (CGI, nginx with underscores_in_headers) read as it.
		for k := range out.Header {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), route.Inject.Header) {
				delete(out.Header, k)
			}
		}
		out.Header.Set(route.Inject.Header, secret)
	}
	if expect {
		out.Header.Del("Expect")
		bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if bw.Flush() != nil {
			return false
		}
	}
	resp, err := p.roundTrip(cc, up, out, route.Private)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		up.close()
		err = errUpgrade
	}
	if err != nil {
		p.refuseDial(bw, e, host, route, err, false)
		return false
	}
	defer resp.Body.Close()
	e.Decision = "allow"
	if route.Inject != nil {
		e.Inject = route.Inject.Header
	}
	e.Status = resp.StatusCode
	closeAfter, err := writeResponse(bw, req, resp, &e.Bytes)
	up.done(resp, err == nil)
	if err != nil {
		e.Error = upstreamError(err)
		keep = false
	}
	p.access.write(e)
	return keep && !closeAfter && drain(req)
}

// portRefusal is the 403 body for a port the route does not allow.
func portRefusal(host, port string, r *Route, file string) string {
	if len(r.Ports) == 0 {
		return fmt.Sprintf("port %s of %s: the route on line %d of %s injects a credential, which goes to port 443 only; list the ports it may go to (ports: [443, %s])", port, host, r.Line, file, port)
	}
	return fmt.Sprintf("port %s of %s is not in the ports of the route on line %d of %s (%s)", port, host, r.Line, file, r.rules())
}

// methodOverrides are the headers with which some servers (and
// frameworks) let a request run as another method than its own.
var methodOverrides = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// refusesHeaders says why the route refuses req's headers, or "": a route
// with methods refuses the method-override headers, which would run the
// request as a method the route does not allow.
func (r *Route) refusesHeaders(req *http.Request) string {
	if len(r.Methods) == 0 {
		return ""
	}
	for _, h := range methodOverrides {
		if _, ok := req.Header[h]; ok {
			return fmt.Sprintf("header %s is refused on a route with methods (%s)", h, strings.Join(r.Methods, ", "))
		}
	}
	return ""
}

// rules describes a route's limits for a 403 body.
func (r *Route) rules() string {
	var parts []string
	if len(r.Paths) > 0 {
		parts = append(parts, "paths: "+strings.Join(r.Paths, ", "))
	}
	if len(r.Methods) > 0 {
		parts = append(parts, "methods: "+strings.Join(r.Methods, ", "))
	}
	if len(r.Ports) > 0 {
		ports := make([]string, len(r.Ports))
		for i, n := range r.Ports {
			ports[i] = strconv.Itoa(n)
		}
		parts = append(parts, "ports: "+strings.Join(ports, ", "))
	}
	return strings.Join(parts, "; ")
}

// reject answers a request the proxy cannot serve as sent (decision
// "reject"): msg, the body, tells the client what it sent; class, the
// access log's error, is fixed text that holds none of it.
func (p *Proxy) reject(bw *bufio.Writer, e *accessEntry, status int, class, msg string) {
	e.Decision = "reject"
	e.Error = class
	p.refuse(bw, e, status, msg, false)
}

// targetHost is the host of a request target, for the access log: the
// URL's host of an absolute-form target, a CONNECT target's host, or ""
// when the target does not parse as one (it is then not logged at all).
func targetHost(method, target string) string {
	hostport := target
	if method != http.MethodConnect {
		u, err := url.Parse(target)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" {
			return ""
		}
		hostport = u.Host
	}
	host, _, err := splitHostPort(hostport, "80")
	if err != nil {
		return ""
	}
	return host
}

// refuse answers with a short plain-text body that says why, and logs.
func (p *Proxy) refuse(bw *bufio.Writer, e *accessEntry, status int, msg string, keep bool) {
	body := "egress: " + msg + "\n"
	e.Status = status
	if e.Error == "" && status != http.StatusForbidden {
		e.Error = msg
	}
	e.Bytes = int64(len(body))
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n", status, http.StatusText(status), len(body))
	if !keep {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	bw.WriteString(body)
	p.access.write(e) // before the client can see the answer: tests and operators read both
	bw.Flush()
}

// drain reads what is left of a request body so the next request on the
// connection starts where it should; it gives up (closing the connection)
// on bodies too large to be worth reading.
func drain(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	n, err := io.CopyN(io.Discard, req.Body, 256<<10)
	return err == io.EOF || (err == nil && n == 0)
}

// requestBody is the client's request body as sent upstream. Request.Write
// closes the body it sends; this one stays readable, so drain can finish
// it and keep the client's connection.
type requestBody struct{ r io.Reader }

func (b *requestBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *requestBody) Close() error               { return nil }

// stripHopByHop removes from h, in place, the hop-by-hop headers and those
// the Connection header names, and returns h. The proxy owns the headers
// it read (the client's request, the upstream's response) and forwards
// them once, so no copy is made.
func stripHopByHop(h http.Header) http.Header {
	for _, v := range h["Connection"] {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			h.Del(strings.TrimSpace(name))
		}
	}
	for k := range h {
		if hopByHop[k] {
			delete(h, k)
		}
	}
	return h
}

// authorityOf is the Host header for host:port under scheme: the port
// only when it is not the scheme's default, IPv6 literals in brackets.
func authorityOf(scheme, host, port string) string {
	if (scheme == "http" && port != "80") || (scheme == "https" && port != "443") {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// connMemo remembers, for one client connection, the answers of pure
// functions a keep-alive client asks again with every request: which
// route a host matches in a given routes snapshot (each request still
// loads the snapshot in force when it arrives) and whether two host
// spellings agree.
type connMemo struct {
	rs    *Routes
	host  string
	route *Route

	sameA, sameB, sameDef string // the last pair sameHost accepted
}

func (m *connMemo) match(rs *Routes, host string) *Route {
	if rs != m.rs || host != m.host || rs == nil {
		m.rs, m.host, m.route = rs, host, rs.Match(host)
	}
	return m.route
}

func (m *connMemo) sameHost(a, b, defaultPort string) bool {
	if a == m.sameA && b == m.sameB && defaultPort == m.sameDef && a != "" {
		return true
	}
	if !sameHost(a, b, defaultPort) {
		return false
	}
	m.sameA, m.sameB, m.sameDef = a, b, defaultPort
	return true
}

// writeResponse sends resp to the client, flushing as the upstream sends,
// so that streamed responses (server-sent events) stream. It reports
// whether the connection must close after it (a body of unknown length to
// an HTTP/1.0 client).
func writeResponse(bw *bufio.Writer, req *http.Request, resp *http.Response, n *int64) (closeAfter bool, err error) {
	writeStatusLine(bw, resp)
	h := stripHopByHop(resp.Header)
	h.Del("Content-Length")
	noBody := req.Method == http.MethodHead || resp.StatusCode == 204 || resp.StatusCode == 304 || resp.StatusCode < 200
	chunked := false
	switch {
	case noBody:
		if resp.ContentLength >= 0 && req.Method == http.MethodHead {
			h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
	case resp.ContentLength >= 0:
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	case req.ProtoAtLeast(1, 1):
		chunked = true
		h.Set("Transfer-Encoding", "chunked")
	default:
		closeAfter = true
		h.Set("Connection", "close")
	}
	if req.Close {
		h.Set("Connection", "close")
	}
	if err := h.Write(bw); err != nil {
		return true, err
	}
	bw.WriteString("\r\n")
	if noBody {
		return closeAfter, bw.Flush()
	}
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	buf := *bufp
	for {
		m, rerr := resp.Body.Read(buf)
		if m > 0 {
			if chunked {
				fmt.Fprintf(bw, "%x\r\n", m)
			}
			bw.Write(buf[:m])
			if chunked {
				bw.WriteString("\r\n")
			}
			*n += int64(m)
			if rerr == nil {
				if err := bw.Flush(); err != nil {
					return true, err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The upstream broke off: the client must not take a short
			// body for a whole one, so the connection closes.
			bw.Flush()
			return true, rerr
		}
	}
	if chunked {
		bw.WriteString("0\r\n\r\n")
	}
	return closeAfter, bw.Flush()
}

// writeStatusLine writes "HTTP/1.1 200 OK\r\n" for resp, as
// fmt.Fprintf("HTTP/1.1 %03d %s\r\n") would, without formatting.
func writeStatusLine(bw *bufio.Writer, resp *http.Response) {
	code := resp.StatusCode
	if code < 0 || code > 999 { // http.ReadResponse takes only three digits
		fmt.Fprintf(bw, "HTTP/1.1 %03d %s\r\n", code, strings.TrimPrefix(resp.Status, strconv.Itoa(code)+" "))
		return
	}
	digits := [3]byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)}
	reason := resp.Status
	if len(reason) >= 4 && reason[3] == ' ' && reason[:3] == string(digits[:]) && (code >= 100 || reason[0] != '0') {
		reason = reason[4:]
	}
	bw.WriteString("HTTP/1.1 ")
	bw.WriteByte(digits[0]) // bytes, not digits[:]: a slice would escape
	bw.WriteByte(digits[1])
	bw.WriteByte(digits[2])
	bw.WriteByte(' ')
	bw.WriteString(reason)
	bw.WriteString("\r\n")
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

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

// splitHostPort splits "host[:port]" and checks the port is a number.
func splitHostPort(hostport, defaultPort string) (host, port string, err error) {
	host, port = hostport, defaultPort
	if strings.LastIndexByte(hostport, ':') > strings.LastIndexByte(hostport, ']') {
		host, port, err = net.SplitHostPort(hostport)
		if err != nil {
			return "", "", fmt.Errorf("bad host %q: %v", hostport, err)
		}
	}
	host = normalizeHost(host)
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return host, port, fmt.Errorf("bad port %q in %q: a port is a number from 1 to 65535", port, hostport)
	}
	if host == "" {
		return host, port, fmt.Errorf("no host in %q", hostport)
	}
	// Only a host name or an IP literal: what is routed on is what is
	// dialled, so nothing a resolver might read differently ("a..b",
	// "a.b..", which Match would otherwise see as "a.b").
	if !isDNSName(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			return host, port, fmt.Errorf("bad host %q: neither a host name (ASCII letters, digits, \"-\", \"_\" and dots) nor an IP address", host)
		}
	}
	return host, port, nil
}

// sameHost reports whether two host[:port] strings name the same host and
// port, filling in defaultPort.
func sameHost(a, b, defaultPort string) bool {
	ah, ap, err1 := splitHostPort(a, defaultPort)
	bh, bp, err2 := splitHostPort(b, defaultPort)
	return err1 == nil && err2 == nil && ah == bh && ap == bp
}

// ambiguousPath reports paths a prefix rule could be fooled by: dot
// segments that the upstream would resolve (also with ";" parameters, as
// in "..;"), encoded dots and slashes.
func ambiguousPath(p string) bool {
	lower := strings.ToLower(p)
	if strings.Contains(lower, "%2e") || strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(p, "\\") {
		return true
	}
	for _, seg := range strings.Split(strings.ReplaceAll(lower, "%3b", ";"), "/") {
		// "..;x" is ".." to servlet containers, which drop ";" parameters
		// before resolving dot segments.
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// connect answers a CONNECT: 403 with no route, a TLS interception when the
// route has rules, otherwise a plain tunnel the proxy never looks into.
func (p *Proxy) connect(cc *clientConn, c net.Conn, br *bufio.Reader, bw *bufio.Writer, req *http.Request, rs *Routes, e *accessEntry) {
	host, port, err := splitHostPort(req.URL.Host, "")
	if err != nil || req.URL.Host == "" {
		if err == nil {
			err = errors.New("CONNECT needs host:port")
		}
		e.Host = ""
		p.reject(bw, e, http.StatusBadRequest, "bad CONNECT target", err.Error())
		return
	}
	e.Host = host
	e.Mode = ModeTunnel
	route := rs.Match(host)
	if route == nil {
		e.Decision, e.Reason = "deny", ReasonNoRoute
		p.refuse(bw, e, http.StatusForbidden, fmt.Sprintf("%s is not in the routes file (%s)", host, p.cfg.RoutesFile), false)
		return
	}
	e.Route = route.Host
	if !route.AllowsPort(port) {
		e.Decision, e.Reason = "deny", ReasonPort
		p.refuse(bw, e, http.StatusForbidden, portRefusal(host, port, route, p.cfg.RoutesFile), false)
		return
	}
	if why, msg := p.grantRefusal(route, !route.Intercepts()); why != "" {
		e.Decision, e.Reason = "deny", why
		p.refuse(bw, e, http.StatusForbidden, msg, false)
		return
	}
	if route.Intercepts() {
		e.Mode = ModeIntercept
		p.intercept(cc, c, br, bw, host, port, e)
		return
	}
	up, err := p.dialTunnel(p.ctx, net.JoinHostPort(host, port), route.Private)
	if err != nil {
		p.refuseDial(bw, e, host, route, err, false)
		return
	}
	defer up.Close()
	bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if bw.Flush() != nil {
		return
	}
	e.Decision = "tunnel"
	e.Status = http.StatusOK
	var early []byte // what the client sent before it saw the 200
	if n := br.Buffered(); n > 0 {
		early, _ = br.Peek(n)
	}
	if testHookBeforeTunnel != nil {
		testHookBeforeTunnel()
	}
	cc.mu.Lock()
	cc.up, cc.tunnelHost, cc.tunnelTarget, cc.tunnelAddr = up, host, req.URL.Host, netip.Addr{}
	if a, ok := up.RemoteAddr().(*net.TCPAddr); ok && p.cfg.Upstream == nil {
		cc.tunnelAddr = a.AddrPort().Addr()
	}
	addr := cc.tunnelAddr
	cc.mu.Unlock()
	if !plainTunnelAllowed(p.routes.Load().Match(host), req.URL.Host, addr) {
		// A reload since the route check, too early for cutTunnels to see
		// this tunnel: nothing goes through it.
		cc.cut.Store(true)
		e.Decision, e.Reason = "deny", ReasonNoRoute
	} else {
		e.Bytes = splice(c, early, up)
	}
	cc.mu.Lock()
	cc.tunnelHost, cc.tunnelTarget = "", ""
	cc.mu.Unlock()
	if cc.cut.Load() {
		e.Error = "closed by a routes reload that no longer allows this tunnel"
	}
	p.access.write(e)
}

// intercept terminates the client's TLS with a leaf for host and serves
// the requests inside it; each is checked against the routes in force when
// it arrives.
func (p *Proxy) intercept(cc *clientConn, c net.Conn, br *bufio.Reader, bw *bufio.Writer, host, port string, e *accessEntry) {
	bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if bw.Flush() != nil {
		return
	}
	ic := &interceptConn{Conn: c, r: br, host: host, port: port}
	tc := tls.Server(ic, p.tlsServer)
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.HandshakeContext(p.ctx)
	c.SetDeadline(time.Time{})
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
	inner := br
	if br.Buffered() == 0 {
		ic.r = nil
		br.Reset(tc)
	} else {
		inner = newReader(tc)
	}
	p.serveConn(cc, tc, inner, ic)
}

// refuseDial answers a request whose upstream could not be dialled: 403
// when the address is one the route does not allow (private:), else 502.
func (p *Proxy) refuseDial(bw *bufio.Writer, e *accessEntry, host string, route *Route, err error, keep bool) {
	e.Error = upstreamError(err)
	var pe *privateAddrError
	if errors.As(err, &pe) {
		e.Decision, e.Reason = "deny", ReasonPrivate
		e.Error = pe.Error()
		p.refuse(bw, e, http.StatusForbidden, fmt.Sprintf("%s is at %s; the route on line %d of %s does not allow it (private: true, or a list of networks, allows it)",
			host, pe, route.Line, p.cfg.RoutesFile), keep)
		return
	}
	e.Decision = "error"
	p.refuse(bw, e, http.StatusBadGateway, fmt.Sprintf("%s: %v", host, err), keep)
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

// testHookBeforeTunnel runs, in tests, between a CONNECT's route check and
// the tunnel's registration for cutTunnels: where a reload can slip in.
var testHookBeforeTunnel func()

// halfCloseTimeout is how long a tunnel's other direction may go on once
// one direction has ended. Without it, a client that left while the
// upstream holds its side open (or the reverse) would hold the tunnel's
// goroutines and both connections forever.
var halfCloseTimeout = idleTimeout

// splice copies both ways until both sides are done, half-closing each
// side when its peer stops sending; once one direction is done the other
// gets halfCloseTimeout to finish. It returns the bytes sent to the client.
//
// A busy tunnel between two fastConns starts as a hotTunnel (one
// goroutine, both directions); the two goroutines here take over when it
// stops, with what it could not write.
func splice(client net.Conn, early []byte, up net.Conn) int64 {
	sent, toUp, toClient := hotSplice(client, early, up)
	// Two goroutines, one per direction: one spinning for the next
	// request would starve the other of the spin that catches the
	// response (measured: spinning cost CONNECT 5-20% at one request at a
	// time), so they park at once.
	setSpin(client, 0)
	setSpin(up, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(toUp) > 0 {
			if _, err := up.Write(toUp); err != nil {
				up.Close()
				return
			}
		}
		copyTunnel(up, client)
		closeWrite(up)
		up.SetReadDeadline(time.Now().Add(halfCloseTimeout))
	}()
	if len(toClient) > 0 {
		k, err := client.Write(toClient)
		sent += int64(k)
		if err != nil {
			client.Close()
		}
	}
	n, _ := copyTunnel(client, up)
	closeWrite(client)
	client.SetReadDeadline(time.Now().Add(halfCloseTimeout))
	<-done
	return sent + n
}

// tunnelBufs holds copyTunnel's buffers: a buffer per direction per live
// tunnel only (io.Copy's 32 KiB each took peak RSS over 20 MiB at 32
// tunnels). 16 KiB holds a whole TLS record.
var tunnelBufs = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// copyTunnel is io.Copy with a pooled buffer.
func copyTunnel(dst io.Writer, src io.Reader) (int64, error) {
	buf := tunnelBufs.Get().(*[16 << 10]byte)
	defer tunnelBufs.Put(buf)
	return io.CopyBuffer(dst, src, buf[:])
}

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
