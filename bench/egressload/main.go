// Command egressload is the load generator for bench/egress.sh: C workers,
// each with one keep-alive connection (through -proxy when given), GET one
// URL for a fixed time and record every request's latency. It prints one
// JSON line: requests/s, p50 and p99 in milliseconds, errors.
//
//	egressload -url https://localhost:18443/1k -proxy http://127.0.0.1:3128 -c 32 -d 10s -cacert ca.pem
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to GET")
	proxy := flag.String("proxy", "", "proxy URL; empty goes direct")
	conc := flag.Int("c", 1, "concurrent workers, one keep-alive connection each")
	dur := flag.Duration("d", 10*time.Second, "measuring time")
	warm := flag.Duration("warmup", time.Second, "time before measuring")
	var cacerts multiFlag
	flag.Var(&cacerts, "cacert", "PEM file of a CA to trust (repeatable)")
	label := flag.String("label", "", "label copied into the output")
	flag.Parse()

	roots := x509.NewCertPool()
	for _, f := range cacerts {
		pem, err := os.ReadFile(f)
		if err != nil || !roots.AppendCertsFromPEM(pem) {
			fatal("cacert %s: %v", f, err)
		}
	}
	var proxyFn func(*http.Request) (*url.URL, error)
	if *proxy != "" {
		u, err := url.Parse(*proxy)
		if err != nil {
			fatal("proxy: %v", err)
		}
		proxyFn = http.ProxyURL(u)
	}

	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	start := time.Now()
	measureFrom, stopAt := start.Add(*warm), start.Add(*warm+*dur)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{
				Proxy:               proxyFn,
				TLSClientConfig:     &tls.Config{RootCAs: roots},
				MaxIdleConnsPerHost: 1,
				DisableCompression:  true,
			}
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var mine []time.Duration
			myErrs := 0
			for {
				t0 := time.Now()
				if t0.After(stopAt) {
					break
				}
				resp, err := c.Get(*target)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					myErrs++
					if myErrs == 1 {
						fmt.Fprintln(os.Stderr, "egressload:", err)
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			tr.CloseIdleConnections()
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"label": *label, "c": *conc, "requests": len(lat), "errors": errs,
		"rps": float64(len(lat)) / dur.Seconds(), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
	})
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "egressload: "+format+"\n", args...)
	os.Exit(2)
}
