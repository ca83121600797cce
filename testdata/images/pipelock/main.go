// Command pipelock is a stand-in for the pipelock allowlist proxy in bottle's
// [docker] suites. Unlike the real one it enforces nothing but api_allowlist;
// like the real one it reloads its config on SIGHUP:
//
//	pipelock [--config /etc/pipelock.yaml] [--listen :8888] [--refuse HOST] [--no-reload]
//
// It is an HTTP forward proxy (absolute-form requests and CONNECT tunnels). A
// host on api_allowlist (exact, or "*.suffix" for any name below suffix) goes
// through; any other gets 403 with a body naming the host. At start it logs
//
//	pipelock: ready: N allowed host(s) [a b c], listening on :8888
//
// preceded by the real pipelock's start line
//
//	Config: /etc/pipelock.yaml (hot-reload enabled, SIGHUP to reload)
//
// On SIGHUP it reads the file again and logs, as the real one does, a JSON line
// with "event":"config_reload","status":"success" and a "config_hash": here the
// SHA-256 (hex) of the file's bytes, so bottle can tell the reload took the
// very bytes it wrote. A file it refuses leaves the old allowlist in force and
// logs
//
//	pipelock: config reload failed: parsing config /etc/pipelock.yaml: yaml: line N: ...
//
// It refuses a line that is none of "key:", "- item", a comment or blank (a
// small part of YAML's syntax errors), and, to stand for a file the real one
// refuses, any allowlist naming the --refuse host. --no-reload stands for a
// pipelock without hot reload: no Config line, SIGHUP ignored.
//
// It exits 0 on SIGTERM or SIGINT. Every other key of the config file is
// ignored here; the suites check with copy_from that bottle kept them.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"bottle.test/images/internal/untilsignal"
)

func main() {
	config := flag.String("config", "/etc/pipelock.yaml", "config file holding api_allowlist")
	listen := flag.String("listen", ":8888", "listen address")
	refuse := flag.String("refuse", "", "refuse a config whose allowlist names this host")
	noReload := flag.Bool("no-reload", false, "no hot reload: ignore SIGHUP, no Config line")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("pipelock: ")

	data, err := os.ReadFile(*config)
	if err != nil {
		log.Fatal(err)
	}
	allow, err := parseConfig(string(data), *refuse)
	if err != nil {
		log.Fatalf("parsing config %s: %v", *config, err)
	}
	p := &proxy{transport: &http.Transport{Proxy: nil}}
	p.allow.Store(&allow)
	srv := &http.Server{Addr: *listen, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if !*noReload {
		// The real pipelock's start line (internal/cli/runtime/server.go).
		fmt.Fprintf(os.Stderr, "  Config: %s (hot-reload enabled, SIGHUP to reload)\n", *config)
		go reloads(p, *config, *refuse)
	} else {
		signal.Ignore(syscall.SIGHUP)
	}
	log.Printf("ready: %d allowed host(s) %v, listening on %s", len(allow), allow, *listen)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	untilsignal.Serve(errc, srv)
}

// reloads reads the config again on each SIGHUP. signal.Notify is what makes
// SIGHUP reach PID 1 at all: the kernel drops signals PID 1 has no handler for.
func reloads(p *proxy, path, refuse string) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	for range hup {
		data, err := os.ReadFile(path)
		var allow []string
		if err == nil {
			allow, err = parseConfig(string(data), refuse)
			if err != nil {
				err = fmt.Errorf("parsing config %s: %w", path, err)
			}
		}
		if err != nil {
			log.Printf("config reload failed: %v", err) // the old allowlist stays
			continue
		}
		p.allow.Store(&allow)
		sum := sha256.Sum256(data)
		line, _ := json.Marshal(map[string]any{
			"level": "info", "event": "config_reload", "status": "success",
			"config_hash": hex.EncodeToString(sum[:]), "allowed": len(allow),
			"time": time.Now().UTC().Format(time.RFC3339Nano),
		})
		fmt.Fprintf(os.Stderr, "%s\n", line)
	}
}

type proxy struct {
	allow     atomic.Pointer[[]string] // swapped whole on reload
	transport *http.Transport
}

func (p *proxy) allowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range *p.allow.Load() {
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
	// Flushed as it comes, as a proxy for streamed API responses must.
	flush := http.NewResponseController(w)
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			flush.Flush()
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			panic(http.ErrAbortHandler) // a short body must not look whole
		}
	}
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

// parseConfig reads the api_allowlist key of a YAML file: a block sequence
// ("- host" lines below the key) or a flow sequence ("[a, b]"). A stand-in
// needs no more of YAML than that; a line it cannot place is an error worded
// like the yaml package's, and so is an allowlist naming refuse.
func parseConfig(text, refuse string) ([]string, error) {
	var hosts []string
	in, done := false, false
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(stripComment(line))
		if trimmed == "" {
			continue
		}
		_, isItem := strings.CutPrefix(trimmed, "- ")
		if !isItem && trimmed != "-" && !strings.Contains(trimmed, ":") {
			return nil, fmt.Errorf("yaml: line %d: could not find expected ':'", n)
		}
		if done {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "api_allowlist:"); ok {
			rest = strings.TrimSpace(stripComment(rest))
			if strings.HasPrefix(rest, "[") {
				for _, h := range strings.Split(strings.Trim(rest, "[]"), ",") {
					hosts = appendHost(hosts, h)
				}
				done = true
				continue
			}
			in = true
			continue
		}
		if !in {
			continue
		}
		item, isItem := strings.CutPrefix(trimmed, "- ")
		if !isItem && trimmed != "-" {
			if line[0] != ' ' && line[0] != '\t' {
				in, done = false, true // the next top-level key
			}
			continue
		}
		hosts = appendHost(hosts, item)
	}
	if refuse != "" {
		for _, h := range hosts {
			if h == strings.ToLower(refuse) {
				return nil, errors.New("yaml: api_allowlist: host " + strconv.Quote(refuse) + " refused (the stand-in's --refuse)")
			}
		}
	}
	return hosts, nil
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
