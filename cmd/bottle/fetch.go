package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func init() {
	register(command{
		name:    "fetch",
		usage:   "fetch [-o FILE] [-X METHOD] [-H 'NAME: VALUE']... [-d DATA] [--timeout DUR] URL",
		summary: "an HTTP client for inside a bottle: honours the proxy variables and SSL_CERT_FILE",
		order:   60,
		run:     runFetch,
	})
}

// headers is a repeatable -H flag.
type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func runFetch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the body to `FILE` instead of stdout")
	method := fs.String("X", "", "the request `METHOD` (default GET, POST with -d)")
	data := fs.String("d", "", "send `DATA` as the request body")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after `DUR`")
	var hs headers
	fs.Var(&hs, "H", "add the request header `'NAME: VALUE'` (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle fetch [flags] URL

Fetch URL and write the body to stdout. It is in the default agent as
/usr/local/bin/fetch: it goes through $HTTPS_PROXY / $HTTP_PROXY (the bottle's
egress) and trusts $SSL_CERT_FILE (the host's roots plus the bottle's CA), so
it shows what the egress allows. A status of 400 or more prints the status
line and the body on stderr (the egress's 403 says which route is missing)
and exits 1; a failed connection exits 1 too.

Flags:
`)
		printFlags(fs)
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "bottle fetch: want one URL\nusage: bottle "+commands["fetch"].usage)
		return exitUsage
	}
	target := fs.Arg(0)
	if !strings.Contains(target, "://") {
		target = "https://" + target
	}
	m := *method
	var body io.Reader
	if *data != "" {
		body = strings.NewReader(*data)
		if m == "" {
			m = http.MethodPost
		}
	}
	if m == "" {
		m = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, m, target, body)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitUsage
	}
	for _, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Fprintf(stderr, "fetch: -H %q: want 'NAME: VALUE'\n", h)
			return exitUsage
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	// The proxy variables, as http.DefaultTransport reads them; Go's x509
	// reads SSL_CERT_FILE for the roots. A CONNECT the egress refuses keeps
	// its body, which says why.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.OnProxyConnectResponse = func(_ context.Context, proxy *url.URL, _ *http.Request, res *http.Response) error {
		if res.StatusCode == http.StatusOK {
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("the proxy %s refused CONNECT: %s\n%s", proxy.Host, res.Status, strings.TrimSpace(string(b)))
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %s %s: %v\n", m, target, err)
		return exitFailed
	}
	defer resp.Body.Close()
	w := stdout
	if resp.StatusCode >= 400 {
		fmt.Fprintf(stderr, "fetch: %s %s: %s\n", m, target, resp.Status)
		w = stderr
	} else if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(stderr, "fetch: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		fmt.Fprintf(stderr, "fetch: read the body of %s: %v\n", target, err)
		return exitFailed
	}
	if resp.StatusCode >= 400 {
		return exitFailed
	}
	return exitOK
}
