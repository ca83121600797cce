// Command pipelock is a stand-in for the pipelock allowlist proxy in bottle's
// [docker] suites. Like the real one it reads its config once, at start, so a
// changed allowlist takes a restart; unlike the real one it enforces nothing
// but api_allowlist:
//
//	pipelock [--config /etc/pipelock.yaml] [--listen :8888]
//
// It is an HTTP forward proxy (absolute-form requests and CONNECT tunnels). A
// host on api_allowlist (exact, or "*.suffix" for any name below suffix) goes
// through; any other gets 403 with a body naming the host. At start it logs
//
//	pipelock: ready: N allowed host(s) [a b c], listening on :8888
//
// and it exits 0 on SIGTERM or SIGINT. Every other key of the config file is
// ignored here; the suites check with copy_from that bottle kept them.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"bottle.test/images/internal/untilsignal"
)

func main() {
	config := flag.String("config", "/etc/pipelock.yaml", "config file holding api_allowlist")
	listen := flag.String("listen", ":8888", "listen address")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("pipelock: ")

	data, err := os.ReadFile(*config)
	if err != nil {
		log.Fatal(err)
	}
	allow := parseAllowlist(string(data))
	p := &proxy{allow: allow, transport: &http.Transport{Proxy: nil}}
	srv := &http.Server{Addr: *listen, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("ready: %d allowed host(s) %v, listening on %s", len(allow), allow, *listen)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	untilsignal.Serve(errc, srv)
}

type proxy struct {
	allow     []string
	transport *http.Transport
}

func (p *proxy) allowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range p.allow {
		if a == host || (strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:])) {
			return true
		}
	}
	return false
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.URL.Hostname()
	if r.Method == http.MethodConnect {
		host, _, _ = net.SplitHostPort(r.Host)
	}
	if !p.allowed(host) {
		log.Printf("deny %s %s", r.Method, host)
		http.Error(w, fmt.Sprintf("pipelock: host %q is not on api_allowlist", host), http.StatusForbidden)
		return
	}
	log.Printf("allow %s %s", r.Method, host)
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "pipelock: not a proxy request", http.StatusBadRequest)
		return
	}
	r.RequestURI = ""
	r.Header.Del("Proxy-Connection")
	resp, err := p.transport.RoundTrip(r)
	if err != nil {
		http.Error(w, "pipelock: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (p *proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	upstream, err := net.DialTimeout("tcp", r.Host, 10*time.Second)
	if err != nil {
		http.Error(w, "pipelock: "+err.Error(), http.StatusBadGateway)
		return
	}
	client, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	fmt.Fprint(client, "HTTP/1.1 200 Connection Established\r\n\r\n")
	go func() {
		io.Copy(upstream, buf) // bytes the client sent after the CONNECT
		upstream.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(client, upstream)
	client.Close()
	upstream.Close()
}

// parseAllowlist reads the api_allowlist key of a YAML file: a block sequence
// ("- host" lines below the key) or a flow sequence ("[a, b]"). A stand-in
// needs no more of YAML than that.
func parseAllowlist(text string) []string {
	var hosts []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(stripComment(line))
		if rest, ok := strings.CutPrefix(line, "api_allowlist:"); ok {
			rest = strings.TrimSpace(stripComment(rest))
			if strings.HasPrefix(rest, "[") {
				for _, h := range strings.Split(strings.Trim(rest, "[]"), ",") {
					hosts = appendHost(hosts, h)
				}
				return hosts
			}
			in = true
			continue
		}
		if !in || trimmed == "" {
			continue
		}
		item, isItem := strings.CutPrefix(trimmed, "- ")
		if !isItem && trimmed != "-" {
			if line[0] != ' ' && line[0] != '\t' {
				break // the next top-level key
			}
			continue
		}
		hosts = appendHost(hosts, item)
	}
	return hosts
}

func appendHost(hosts []string, h string) []string {
	h = strings.ToLower(strings.Trim(strings.TrimSpace(h), `"'`))
	if h == "" {
		return hosts
	}
	return append(hosts, h)
}

func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(s), "#") {
		return ""
	}
	return s
}
