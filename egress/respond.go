package egress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/bottle-sh/bottle/egress/routes"
)

// portRefusal is the 403 body for a port the route does not allow.
func portRefusal(host, port string, r *routes.Route, file string) string {
	if len(r.Ports) == 0 {
		return fmt.Sprintf("port %s of %s: the route on line %d of %s injects a credential, which goes to port 443 only; list the ports it may go to (ports: [443, %s])", port, host, r.Line, file, port)
	}
	return fmt.Sprintf("port %s of %s is not in the ports of the route on line %d of %s (%s)", port, host, r.Line, file, r.Rules())
}

// methodOverrides are the headers with which some servers (and
// frameworks) let a request run as another method than its own.
var methodOverrides = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// refusesHeaders says why route r refuses req's headers, or "": a route
// with methods refuses the method-override headers, which would run the
// request as a method the route does not allow.
func refusesHeaders(r *routes.Route, req *http.Request) string {
	if len(r.Methods) == 0 {
		return ""
	}
	// Compared with "_" read as "-", case aside: WSGI, CGI and PHP give
	// X_HTTP_METHOD_OVERRIDE and X-HTTP-Method-Override the one name.
	for k := range req.Header {
		for _, h := range methodOverrides {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), h) {
				return fmt.Sprintf("header %s is refused on a route with methods (%s)", k, strings.Join(r.Methods, ", "))
			}
		}
	}
	return ""
}

// reject answers a request the proxy cannot serve as sent (decision
// "reject"): msg, the body, tells the client what it sent; class, the
// access log's error, is fixed text that holds none of it.
func (s *session) reject(status int, class, msg string) {
	s.ent.Decision = "reject"
	s.ent.Error = class
	s.refuse(status, msg, false)
}

// badRequest is reject with 400; it returns false, for the connection
// ends with it.
func (s *session) badRequest(class, msg string) bool {
	s.reject(http.StatusBadRequest, class, msg)
	return false
}

// refuse answers with a short plain-text body that says why, and logs.
func (s *session) refuse(status int, msg string, keep bool) {
	e, bw := &s.ent, s.bw
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
	s.p.access.write(e) // before the client can see the answer: tests and operators read both
	bw.Flush()
}

// refuseDial answers a request whose upstream could not be dialled: 403
// when the address is one the route does not allow (private:), else 502.
func (s *session) refuseDial(host string, route *routes.Route, err error, keep bool) {
	e := &s.ent
	e.Error = upstreamError(err)
	var pe *privateAddrError
	if errors.As(err, &pe) {
		e.Decision, e.Reason = "deny", ReasonPrivate
		e.Error = pe.Error()
		s.refuse(http.StatusForbidden, fmt.Sprintf("%s is at %s; the route on line %d of %s does not allow it (private: true, or a list of networks, allows it)",
			host, pe, route.Line, s.p.cfg.RoutesFile), keep)
		return
	}
	e.Decision = "error"
	s.refuse(http.StatusBadGateway, fmt.Sprintf("%s: %v", host, err), keep)
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
		if routes.IsHopByHop(k) {
			delete(h, k)
		}
	}
	return h
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
	if err := copyBody(bw, resp.Body, chunked, n); err != nil {
		return true, err
	}
	return closeAfter, bw.Flush()
}

// copyBody sends a response body, chunked or not, flushing after every
// upstream read; n counts the body's bytes. An error closes the connection.
func copyBody(bw *bufio.Writer, body io.Reader, chunked bool, n *int64) error {
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	buf := *bufp
	for {
		m, rerr := body.Read(buf)
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
					return err
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
			return rerr
		}
	}
	if chunked {
		bw.WriteString("0\r\n\r\n")
	}
	return nil
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
