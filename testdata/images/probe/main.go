// Command probe plays the agent in bottle's [docker] suites: it stays alive as
// the container's PID 1 and, run again through exec, makes requests the way an
// agent would, through HTTP_PROXY/HTTPS_PROXY and trusting the CA in
// SSL_CERT_FILE, and prints what it got.
//
//	probe serve              idle as PID 1 until SIGTERM or SIGINT, then exit 0
//	probe get [-X METHOD] URL
//	                         one request through the proxy from the environment;
//	                         prints "status: N" and the body; exit 0 for any
//	                         HTTP response, 1 when no response came back
//	probe direct HOST:PORT   a TCP connection with no proxy; prints
//	                         "direct HOST:PORT: connected" (exit 0) or
//	                         "direct HOST:PORT: blocked: REASON" (exit 1)
//	probe tty                whether standard input is a terminal: "tty: yes"
//	                         or "tty: no" (what `bottle attach` gives it)
//
// Besides the roots in SSL_CERT_FILE (the bottle's CA), the probe trusts the
// test CA that signs the upstreams' certificates: it stands in for the public
// roots a real agent image ships.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"bottle.test/images/internal/testca"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve()
	case "get":
		os.Exit(get(os.Args[2:]))
	case "direct":
		if len(os.Args) != 3 {
			usage()
		}
		os.Exit(direct(os.Args[2]))
	case "tty":
		tty()
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe serve | probe get [-X METHOD] URL | probe direct HOST:PORT | probe tty")
	os.Exit(2)
}

func serve() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Println("probe: ready")
	<-ctx.Done()
	fmt.Println("probe: stopping")
}

func get(args []string) int {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	method := fs.String("X", "GET", "request method")
	timeout := fs.Duration("timeout", 10*time.Second, "whole-request timeout")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	roots, err := x509.SystemCertPool() // reads SSL_CERT_FILE
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	roots.AppendCertsFromPEM([]byte(testca.CertPEM))
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			Proxy:           http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{RootCAs: roots},
		},
	}
	req, err := http.NewRequest(*method, fs.Arg(0), nil)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("status: %d\n%s", resp.StatusCode, body)
	if err != nil {
		fmt.Println("\nerror reading body:", err)
		return 1
	}
	return 0
}

func direct(addr string) int {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		fmt.Printf("direct %s: blocked: %v\n", addr, err)
		return 1
	}
	conn.Close()
	fmt.Printf("direct %s: connected\n", addr)
	return 0
}

// tty reports whether standard input is a terminal, the way isatty(3) tells:
// the TCGETS ioctl succeeds only on one.
func tty() {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	if errno != 0 {
		fmt.Println("tty: no")
		return
	}
	fmt.Println("tty: yes")
}
