// Command upstream is the outside world in bottle's [docker] suites: a web
// server on :80 (HTTP) and :443 (HTTPS, with a leaf certificate signed by the
// test CA) that answers every request with its own name, so a probe can tell
// which upstream it reached and how:
//
//	upstream NAME: https GET /path
//
// followed by one line per x-api-key header value it received, as
//
//	x-api-key: VALUE
//
// so a suite can tell which credential reached it (the one the egress
// injected, not the agent's). The value is never logged.
//
// /stream...?n=N (any path starting /stream; default 20) streams instead: "stream: line I" every 100 ms,
// flushed, then "stream: done", so a suite can hold a response open while it
// changes a proxy on the way.
//
// Flags: --name (default: the hostname), --hosts (extra comma-separated names
// for the certificate), --http and --https (listen addresses). It logs one line
// per request and exits 0 on SIGTERM or SIGINT.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"bottle.test/images/internal/testca"

	"bottle.test/images/internal/untilsignal"
)

func main() {
	host, _ := os.Hostname()
	name := flag.String("name", host, "the name this upstream answers with")
	hosts := flag.String("hosts", "", "extra comma-separated DNS names for the certificate")
	httpAddr := flag.String("http", ":80", "HTTP listen address")
	httpsAddr := flag.String("https", ":443", "HTTPS listen address")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("upstream: ")

	names := []string{*name, host, "localhost"}
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			names = append(names, h)
		}
	}
	cert, err := leaf(names)
	if err != nil {
		log.Fatal(err)
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto := "http"
		if r.TLS != nil {
			proto = "https"
		}
		log.Printf("%s %s %s%s from %s", proto, r.Method, r.Host, r.URL.Path, r.RemoteAddr)
		fmt.Fprintf(w, "upstream %s: %s %s %s\n", *name, proto, r.Method, r.URL.Path)
		if strings.HasPrefix(r.URL.Path, "/stream") {
			stream(w, r)
			return
		}
		for _, v := range r.Header.Values("X-Api-Key") {
			fmt.Fprintf(w, "x-api-key: %s\n", v)
		}
	})
	plain := &http.Server{Addr: *httpAddr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	secure := &http.Server{Addr: *httpsAddr, Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}

	errc := make(chan error, 2)
	for _, srv := range []*http.Server{plain, secure} {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			if srv.TLSConfig != nil {
				errc <- srv.ServeTLS(ln, "", "")
			} else {
				errc <- srv.Serve(ln)
			}
		}()
	}
	log.Printf("ready: %s on %s (http) and %s (https) for %s", *name, *httpAddr, *httpsAddr, strings.Join(names, ","))

	untilsignal.Serve(errc, plain, secure)
}

func stream(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n <= 0 {
		n = 20
	}
	flush := http.NewResponseController(w)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "stream: line %d\n", i)
		if flush.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			log.Printf("stream cut after line %d", i)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintln(w, "stream: done")
}

// leaf mints a server certificate for names, signed by the test CA.
func leaf(names []string) (tls.Certificate, error) {
	ca, err := testca.Pair()
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
