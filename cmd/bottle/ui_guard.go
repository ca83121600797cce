package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"sync"
)

// The UI's guard: who may use it. Every response carries headers that keep
// it out of frames and stop any script but its own file; every request
// must name the address it listens on as its Host (a DNS-rebinding page
// names its own); the token bottle ui printed is exchanged once for a
// session cookie (HttpOnly, SameSite=Strict); every change (a POST) must
// come from the UI's own origin and carry the session's form token.

// uiSession is one browser that showed the token.
type uiSession struct {
	csrf string // the form token its pages carry
}

type guard struct {
	token  string
	cookie string // the session cookie's name (per port: cookies ignore ports)
	hosts  map[string]bool
	anyIP  string // the port, when listening on every address: any IP literal Host with it
	mu     sync.Mutex
	// sessions are keyed by the SHA-256 of the cookie, so a lookup's
	// timing tells nothing about the cookie's bytes.
	sessions map[[32]byte]*uiSession
}

func newGuard(addr, listenHost, token string) *guard {
	_, port, _ := net.SplitHostPort(addr)
	g := &guard{token: token, cookie: "bottle_ui_" + port, hosts: map[string]bool{addr: true},
		sessions: map[[32]byte]*uiSession{}}
	switch {
	case isLoopback(listenHost):
		for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
			g.hosts[h+":"+port] = true
		}
	case listenHost == "" || net.ParseIP(listenHost).IsUnspecified():
		g.anyIP = port
	default:
		g.hosts[net.JoinHostPort(listenHost, port)] = true
	}
	return g
}

// securityHeaders go on every response.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // no-referrer would make the form posts' Origin "null"
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// hostOK reports whether host (the request's Host header) names this
// server: its listen address, or loopback by another name, or (listening
// on every address) an IP literal with its port. A DNS name pointed at
// loopback by a web page's DNS (rebinding) is none of these.
func (g *guard) hostOK(host string) bool {
	if g.hosts[host] {
		return true
	}
	if g.anyIP == "" {
		return false
	}
	h, port, err := net.SplitHostPort(host)
	return err == nil && port == g.anyIP && net.ParseIP(h) != nil
}

// login exchanges ?token= for a session cookie and sends the browser to the
// same page without the token (so it stays out of history and logs).
func (g *guard) login(w http.ResponseWriter, r *http.Request) {
	given := r.URL.Query().Get("token")
	if subtle.ConstantTimeCompare([]byte(given), []byte(g.token)) != 1 {
		refuse(w, http.StatusForbidden, "That token is not this bottle ui's. Open the address bottle ui printed when it started.")
		return
	}
	id := randomHex(32)
	g.mu.Lock()
	g.sessions[sha256.Sum256([]byte(id))] = &uiSession{csrf: randomHex(32)}
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: g.cookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	q := r.URL.Query()
	q.Del("token")
	to := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	http.Redirect(w, r, to.String(), http.StatusSeeOther)
}

// session is the request's session, or nil.
func (g *guard) session(r *http.Request) *uiSession {
	c, err := r.Cookie(g.cookie)
	if err != nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sessions[sha256.Sum256([]byte(c.Value))]
}

// sameOrigin reports why a state-changing request is refused, or "": it
// must say it comes from this page (Origin is the Host it was sent to;
// Sec-Fetch-Site, when the browser sends it, same-origin) and carry the
// session's form token.
func sameOrigin(r *http.Request, s *uiSession) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return "the request came from another site (Sec-Fetch-Site: " + site + ")"
	}
	origin := r.Header.Get("Origin")
	if origin != "http://"+r.Host {
		return "the request's Origin (" + origin + ") is not this page's"
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
		return "the form token is missing or not this session's: reload the page and try again"
	}
	return ""
}

var refusePage = template.Must(template.New("refuse").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>bottle ui: refused</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main><h1>Refused</h1><p id="refused">{{.}}</p></main></body></html>
`))

// refuse answers with code and a page that says why.
func refuse(w http.ResponseWriter, code int, why string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	refusePage.Execute(w, why)
}
