package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The agent API: the egress answers requests for http://bottle.internal/
// itself, as a web server, never as a proxy: nothing the agent names there
// is fetched. The agent reaches it the way it reaches everything, through
// its proxy settings (HTTP_PROXY is the egress), and only the egress's own
// clients can (--clients: the bottle's internal network). It serves an MCP
// server (streamable HTTP, stateless, JSON responses) at /mcp and the same
// as plain JSON under /v1/:
//
//	POST /v1/requests            {host, paths?, methods?, reason}: ask for access
//	GET  /v1/requests[/ID][?wait=SECONDS]  the requests and their status; wait for an answer to ID
//	GET  /v1/allowed             what the agent may reach now
//	GET  /v1/denials[?limit=N]   its recent denials
//
// Nothing here approves: answers come only from the host (requests.go).
const (
	AgentHost        = "bottle.internal"
	maxAgentBody     = 64 << 10
	maxAgentResponse = 1 << 20
	maxAgentDrain    = 1 << 20 // what refuseBody reads of an oversized body, at most
	maxWait          = 60 * time.Second
	maxRuleItems     = 10
)

// refuseBody answers an oversized body with a 413, then reads and discards
// up to maxAgentDrain more of it before the connection closes: closing with
// unread bytes makes the kernel reset the connection, and the client would
// see "connection reset" instead of the answer.
func (s *session) refuseBody(req *http.Request) {
	s.refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("the agent API takes bodies of at most %d bytes", maxAgentBody), false)
	io.Copy(io.Discard, io.LimitReader(req.Body, maxAgentDrain))
}

// serveAgent answers one request for AgentHost and reports whether the
// connection may serve another.
func (s *session) serveAgent(req *http.Request, keep bool) bool {
	p, bw, e := s.p, s.bw, &s.ent
	e.Decision, e.Mode = "local", "http"
	if req.ContentLength > maxAgentBody {
		s.refuseBody(req)
		return false
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxAgentBody+1))
	if err != nil || len(body) > maxAgentBody {
		s.refuseBody(req)
		return false
	}
	ctx, cancel := context.WithTimeout(p.ctx, maxWait+5*time.Second)
	defer cancel()
	in := req.WithContext(ctx)
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.ContentLength = int64(len(body))
	out := &bufferedResponse{h: http.Header{}}
	p.agentHandler().ServeHTTP(out, in)
	if out.status == 0 {
		out.status = http.StatusOK
	}
	if out.over {
		out.status, out.body = http.StatusInternalServerError, *bytes.NewBufferString("egress: response too large\n")
	}
	e.Status, e.Bytes = out.status, int64(out.body.Len())
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", out.status, http.StatusText(out.status))
	out.h.Del("Content-Length")
	out.h.Del("Transfer-Encoding")
	out.h.Write(bw)
	fmt.Fprintf(bw, "Content-Length: %d\r\n", out.body.Len())
	if !keep {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	if req.Method != http.MethodHead {
		bw.Write(out.body.Bytes())
	}
	p.access.write(e)
	return bw.Flush() == nil && keep
}

// bufferedResponse is an http.ResponseWriter that keeps the response,
// bounded, for serveAgent to send with a Content-Length.
type bufferedResponse struct {
	h      http.Header
	status int
	body   bytes.Buffer
	over   bool
}

func (r *bufferedResponse) Header() http.Header { return r.h }
func (r *bufferedResponse) Flush()              {}

func (r *bufferedResponse) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *bufferedResponse) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) > maxAgentResponse {
		r.over = true
		return 0, errors.New("response too large")
	}
	return r.body.Write(b)
}

// agentHandler is the agent API's handler, made once.
func (p *Proxy) agentHandler() http.Handler {
	p.agentOnce.Do(func() {
		mux := http.NewServeMux()
		srv := p.mcpServer()
		mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
			&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, DisableLocalhostProtection: true}))
		mux.HandleFunc("POST /v1/requests", p.httpAsk)
		mux.HandleFunc("GET /v1/requests", p.httpStatus)
		mux.HandleFunc("GET /v1/requests/{id}", p.httpStatus)
		mux.HandleFunc("GET /v1/allowed", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"routes": p.allowedNow()})
		})
		mux.HandleFunc("GET /v1/denials", func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			writeJSON(w, 200, map[string]any{"denials": p.book.recentDenials(n)})
		})
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint; the agent API has POST /mcp, POST /v1/requests, GET /v1/requests[/ID], GET /v1/allowed, GET /v1/denials (only the operator can approve, on the host)"})
		})
		p.agent = mux
	})
	return p.agent
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// AskInput is an agent's request for access.
type AskInput struct {
	Host    string   `json:"host" jsonschema:"the host to reach, e.g. api.example.com (no scheme, port or path)"`
	Paths   []string `json:"paths,omitempty" jsonschema:"path prefixes it needs, e.g. /v1/ (default: every path)"`
	Methods []string `json:"methods,omitempty" jsonschema:"HTTP methods it needs, e.g. GET (default: every method)"`
	Reason  string   `json:"reason" jsonschema:"why the task needs it, for the operator (at most 500 bytes)"`
}

// check validates and normalises an ask.
func (a *AskInput) check() error {
	h, err := routes.ValidHost(strings.TrimSpace(a.Host))
	if err != nil {
		return fmt.Errorf("host: %v", err)
	}
	if h == AgentHost {
		return errors.New("host: bottle.internal is the egress itself")
	}
	// One host per ask: a wildcard over a suffix anyone can publish on
	// (*.github.io) reads harmless to the operator and is a channel out.
	// Wildcards are the operator's to write (routes_edit, routes_apply).
	if strings.Contains(h, "*") {
		return fmt.Errorf("host: %q is a wildcard; ask for the one host the task needs (the operator writes wildcard routes)", h)
	}
	a.Host = h
	a.Reason = strings.TrimSpace(a.Reason)
	if a.Reason == "" {
		return errors.New("reason: say why the task needs this host; the operator decides on it")
	}
	if len(a.Reason) > maxReasonBytes {
		return fmt.Errorf("reason: %d bytes, at most %d", len(a.Reason), maxReasonBytes)
	}
	if strings.IndexFunc(a.Reason, func(r rune) bool { return r < ' ' && r != '\n' || r == 0x7f }) >= 0 {
		return errors.New("reason: control characters are not allowed")
	}
	if len(a.Paths) > maxRuleItems || len(a.Methods) > maxRuleItems {
		return fmt.Errorf("at most %d paths and %d methods", maxRuleItems, maxRuleItems)
	}
	for _, s := range a.Paths {
		// Printable ASCII only: a prefix is matched against the escaped
		// path, and the operator reads it on a terminal (an ESC there
		// could redraw the row it is printed in).
		bad := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '?' || r == '#' })
		if !strings.HasPrefix(s, "/") || len(s) > 200 || bad >= 0 {
			return fmt.Errorf("paths: %q is not a path prefix (starts with /, printable ASCII with no spaces, ? or #, at most 200 bytes)", s)
		}
	}
	for i, m := range a.Methods {
		a.Methods[i] = strings.ToUpper(m)
		if !routes.IsToken(a.Methods[i]) || len(m) > 20 {
			return fmt.Errorf("methods: %q is not an HTTP method", m)
		}
	}
	return nil
}

func (p *Proxy) ask(in AskInput) (*AccessRequest, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	return p.book.ask(in.Host, in.Methods, in.Paths, in.Reason, time.Now())
}

// status lists the requests (one, with id), waiting up to wait for an
// answer to a pending id.
func (p *Proxy) status(ctx context.Context, id string, wait time.Duration) ([]AccessRequest, error) {
	wait = min(max(wait, 0), maxWait)
	deadline := time.Now().Add(wait)
	for {
		rs := p.book.list(id)
		if id != "" && len(rs) == 0 {
			return nil, fmt.Errorf("no request %q (request_status with no id lists them)", id)
		}
		left := time.Until(deadline)
		if id == "" || rs[0].Status != "pending" || left <= 0 {
			return rs, nil
		}
		p.book.wait(left, ctx.Done())
		if ctx.Err() != nil {
			return p.book.list(id), nil
		}
	}
}

// AllowedRoute is a route as the agent sees it.
type AllowedRoute struct {
	Host     string   `json:"host"`
	Paths    []string `json:"paths,omitempty"`
	Methods  []string `json:"methods,omitempty"`
	Ports    []int    `json:"ports,omitempty"`
	Injects  string   `json:"injects,omitempty"` // the header the egress sets (its value never reaches the agent)
	Expires  string   `json:"expires,omitempty"`
	UsesLeft *int     `json:"uses_left,omitempty"`
}

func (p *Proxy) allowedNow() []AllowedRoute {
	now := time.Now()
	out := []AllowedRoute{}
	for i := range p.routes.Load().Routes {
		r := &p.routes.Load().Routes[i]
		if r.Expired(now) {
			continue
		}
		a := AllowedRoute{Host: r.Host, Paths: r.Paths, Methods: r.Methods, Ports: r.Ports}
		if r.Inject != nil {
			a.Injects = r.Inject.Header
		}
		if !r.Expires.IsZero() {
			a.Expires = r.Expires.UTC().Format(time.RFC3339)
		}
		if r.Uses > 0 {
			left := max(r.Uses-p.uses.used(r), 0)
			if left == 0 {
				continue
			}
			a.UsesLeft = &left
		}
		out = append(out, a)
	}
	return out
}

func (p *Proxy) httpAsk(w http.ResponseWriter, r *http.Request) {
	var in AskInput
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: want a JSON object {host, paths?, methods?, reason}: " + jsonProblem(err)})
		return
	}
	req, err := p.ask(in)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

func (p *Proxy) httpStatus(w http.ResponseWriter, r *http.Request) {
	wait := time.Duration(0)
	if s := r.URL.Query().Get("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "wait: want whole seconds, at most 60"})
			return
		}
		wait = time.Duration(n) * time.Second
	}
	rs, err := p.status(r.Context(), r.PathValue("id"), wait)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": rs})
}

// jsonProblem is a JSON decoding error without the input it quotes.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s has the wrong type", te.Field)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return err.Error()
	}
	return "malformed JSON"
}

// StatusInput asks for the status of the agent's requests.
type StatusInput struct {
	ID   string `json:"id,omitempty" jsonschema:"a request's id; empty lists every request"`
	Wait int    `json:"wait_seconds,omitempty" jsonschema:"with id: wait up to this many seconds (at most 60) for the operator's answer"`
}

// DenialsInput asks for the agent's recent denials.
type DenialsInput struct {
	Limit int `json:"limit,omitempty" jsonschema:"how many, newest last (default and at most 100)"`
}

type requestsOut struct {
	Requests []AccessRequest `json:"requests"`
}

type allowedOut struct {
	Routes []AllowedRoute `json:"routes"`
}

type denialsOut struct {
	Denials []denial `json:"denials"`
}

// mcpServer is the agent API as MCP tools.
func (p *Proxy) mcpServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bottle-egress", Version: "1"}, &mcp.ServerOptions{
		Instructions: "This bottle's egress: ask the operator for access to a host (request_access), see the answers (request_status), what you may reach now (allowed_now) and what was denied (recent_denials). Only the operator can approve.",
	})
	mcp.AddTool(s, &mcp.Tool{Name: "request_access", Description: "Ask the operator for access to a host (optionally only some paths and methods), with the reason the task needs it. Returns the request and its id; the operator approves or denies it on the host."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in AskInput) (*mcp.CallToolResult, *AccessRequest, error) {
			r, err := p.ask(in)
			return nil, r, err
		})
	mcp.AddTool(s, &mcp.Tool{Name: "request_status", Description: "The status of your access requests (pending, approved, denied, with the operator's answer and the grant's expiry); with id and wait_seconds, waits for the answer."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in StatusInput) (*mcp.CallToolResult, requestsOut, error) {
			rs, err := p.status(ctx, in.ID, time.Duration(in.Wait)*time.Second)
			return nil, requestsOut{Requests: rs}, err
		})
	mcp.AddTool(s, &mcp.Tool{Name: "allowed_now", Description: "The hosts (and paths, methods, ports) this bottle may reach now, with each grant's expiry and uses left."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, allowedOut, error) {
			return nil, allowedOut{Routes: p.allowedNow()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "recent_denials", Description: "Your recent requests the egress denied, and why (no route, path, method, port, expired...)."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in DenialsInput) (*mcp.CallToolResult, denialsOut, error) {
			return nil, denialsOut{Denials: p.book.recentDenials(in.Limit)}, nil
		})
	return s
}
