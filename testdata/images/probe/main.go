// Command probe plays the agent in bottle's [docker] suites: it stays alive as
// the container's PID 1 and, run again through exec, makes requests the way an
// agent would, through HTTP_PROXY/HTTPS_PROXY and trusting the CA in
// SSL_CERT_FILE, and prints what it got.
//
//	probe serve              idle as PID 1 until SIGTERM or SIGINT, then exit 0
//	probe get [-X METHOD] [-H 'Name: value']... URL
//	                         one request through the proxy from the environment;
//	                         prints "status: N", for https the certificate it
//	                         verified ("tls: leaf issued by CN, verified up to
//	                         CN") and the body; exit 0 for any HTTP response, 1
//	                         when no response came back
//	probe ca                 prints the test CA certificate (PEM) that signs the
//	                         upstreams' leaves, for a manifest's upstream_roots
//	probe direct HOST:PORT   a TCP connection with no proxy; prints
//	                         "direct HOST:PORT: connected" (exit 0) or
//	                         "direct HOST:PORT: blocked: REASON" (exit 1)
//	probe listen [-port-file FILE] [-for DURATION] ADDR
//	                         a TCP listener (":0": a free port, IPv4 and IPv6)
//	                         that writes "probe listener\n" to each connection
//	                         and closes it; it writes the port to FILE, prints
//	                         "listening on ADDR" and exits 0 on SIGTERM,
//	                         SIGINT or after DURATION (default 10m)
//	probe tty                whether standard input is a terminal: "tty: yes"
//	                         or "tty: no" (what `bottle attach` gives it)
//
// Besides the roots in SSL_CERT_FILE (the bottle's CA), the probe trusts the
// test CA that signs the upstreams' certificates: it stands in for the public
// roots a real agent image ships.
package main

import (
	"bufio"
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
	"strings"
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
	case "listen":
		os.Exit(listen(os.Args[2:]))
	case "tty":
		tty()
	case "ca":
		fmt.Print(strings.TrimLeft(testca.CertPEM, "\n"))
	case "handle":
		if len(os.Args) != 4 {
			usage()
		}
		os.Exit(handle(os.Args[2], os.Args[3]))
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe serve | probe get [-X METHOD] [-H 'Name: value']... URL | probe direct HOST:PORT | probe listen [-port-file FILE] [-for D] ADDR | probe tty | probe ca | probe handle MOUNTFILE PATH")
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
	var headers headerFlags
	fs.Var(&headers, "H", "a request header `Name: value` (repeatable)")
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
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Println("error: -H", h, "is not Name: value")
			return 1
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("status: %d\n", resp.StatusCode)
	if st := resp.TLS; st != nil && len(st.PeerCertificates) > 0 && len(st.VerifiedChains) > 0 {
		chain := st.VerifiedChains[0]
		fmt.Printf("tls: leaf issued by %s, verified up to %s\n",
			st.PeerCertificates[0].Issuer.CommonName, chain[len(chain)-1].Subject.CommonName)
	}
	fmt.Printf("%s", body)
	if err != nil {
		fmt.Println("\nerror reading body:", err)
		return 1
	}
	return 0
}

// headerFlags collects repeated -H flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func direct(addr string) int {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		fmt.Printf("direct %s: blocked: %v\n", addr, err)
		return 1
	}
	defer conn.Close()
	// A listener that accepts and then drops the connection (a proxy's
	// access rule) has refused it all the same: say what came back.
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Printf("direct %s: connected%s\n", addr, strings.TrimRight(" "+line, " \n"))
	return 0
}

func listen(args []string) int {
	fs := flag.NewFlagSet("listen", flag.ExitOnError)
	portFile := fs.String("port-file", "", "write the port here once listening")
	life := fs.Duration("for", 10*time.Minute, "exit after this long")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	ln, err := net.Listen("tcp", fs.Arg(0))
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile, []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
			fmt.Println("listen:", err)
			return 1
		}
	}
	fmt.Println("listening on", ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "probe listener")
			c.Close()
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(*life):
	}
	ln.Close()
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

// handle MOUNTFILE PATH reads PATH (relative) from the root directory of the
// filesystem MOUNTFILE is on, opened by its file handle (ext4's root is
// inode 2, generation 0) with open_by_handle_at(2): "Shocker". A container
// with CAP_DAC_READ_SEARCH under runc passes Docker's default seccomp
// profile with it and reads the host's filesystem through any bind mount
// (/etc/hosts is one in every container). Prints "handle PATH: blocked: ERR"
// or "handle PATH: read LINE" (the file's first line).
func handle(mountFile, path string) int {
	mfd, err := syscall.Open(mountFile, syscall.O_RDONLY, 0)
	if err != nil {
		fmt.Printf("handle %s: blocked: %v\n", path, err)
		return 1
	}
	defer syscall.Close(mfd)
	// struct file_handle { u32 handle_bytes; int handle_type; u32 ino, gen }
	h := [4]uint32{8, 1, 2, 0}    // FILEID_INO32_GEN, the root inode
	const sysOpenByHandleAt = 304 // amd64
	r, _, errno := syscall.Syscall(sysOpenByHandleAt, uintptr(mfd), uintptr(unsafe.Pointer(&h[0])), uintptr(syscall.O_RDONLY|syscall.O_DIRECTORY))
	if errno != 0 {
		fmt.Printf("handle %s: blocked: %v\n", path, errno)
		return 1
	}
	root := int(r)
	defer syscall.Close(root)
	fd, err := syscall.Openat(root, path, syscall.O_RDONLY, 0)
	if err != nil {
		fmt.Printf("handle %s: blocked: %v\n", path, err)
		return 1
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fmt.Printf("handle %s: read %s\n", path, strings.TrimSpace(line))
	return 0
}
