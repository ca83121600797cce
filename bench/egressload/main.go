// Command egressload is the load generator for bench/egress.sh: C workers,
// each with one keep-alive connection (through -proxy when given), GET one
// URL for a fixed time and record every request's latency. It prints one
// JSON line: requests/s, p50 and p99 in milliseconds, errors.
//
//	egressload -url https://localhost:18443/1k -proxy http://127.0.0.1:3128 -c 32 -d 10s -cacert ca.pem
//
// With -pid, the line also holds the CPU time (user+sys, from /proc) that
// process and its descendants used while egressload ran, and that per
// 10,000 requests (warm-up ones included: they cost the proxy too).
// -n N makes each worker GET the URL N times, with no warm-up and no time
// limit (bulk downloads: bytes_per_s). -idle makes each worker GET the URL
// once and then hold its connection open, unused, for -d: cpu_s is then
// what the proxy used over those -d only.
//
// -serve ADDR turns it into an upstream that answers every request with
// 1 KiB after -delay, over TLS with -cert and -key: a host farther away
// than loopback's nginx, as real upstreams are.
//
//	egressload -serve 127.0.0.1:18096 -delay 1ms -cert nginx.crt -key nginx.key
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	pid := flag.Int("pid", 0, "report the CPU time of this process (and its children)")
	count := flag.Int("n", 0, "each worker GETs the URL this many times, then stops (no warm-up, no -d)")
	idle := flag.Bool("idle", false, "each worker GETs the URL once, then holds its connection idle for -d")
	serve := flag.String("serve", "", "serve 1 KiB answers on this `ADDR` instead (with -delay, -cert, -key)")
	delay := flag.Duration("delay", 0, "with -serve: how long each answer waits")
	cert := flag.String("cert", "", "with -serve: TLS certificate (PEM)")
	key := flag.String("key", "", "with -serve: TLS key (PEM)")
	flag.Parse()
	if *serve != "" {
		body := bytes.Repeat([]byte("x"), 1024)
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { time.Sleep(*delay); w.Write(body) })
		fatal("%v", http.ListenAndServeTLS(*serve, *cert, *key, h))
	}
	if *count > 0 || *idle {
		*warm = 0
	}

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
	var errs, all int
	var body int64
	ready := make(chan struct{}, *conc) // -idle: a worker's connection is open
	cpu0 := cpuTime(*pid)
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
			if *count > 0 {
				c.Timeout = 0
			}
			var mine []time.Duration
			myErrs, myAll := 0, 0
			var myBody int64
			for i := 0; ; i++ {
				t0 := time.Now()
				if *count > 0 && i == *count || *count == 0 && t0.After(stopAt) || *idle && i == 1 {
					break
				}
				resp, err := c.Get(*target)
				if err == nil {
					var n int64
					n, err = io.Copy(io.Discard, resp.Body)
					myBody += n
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				myAll++
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
			if *idle {
				ready <- struct{}{}
				time.Sleep(time.Until(stopAt) + *dur) // past the others' -d, however late they opened
			}
			tr.CloseIdleConnections()
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			all += myAll
			body += myBody
			mu.Unlock()
		}()
	}
	out := map[string]any{"label": *label, "c": *conc}
	if *idle {
		for range *conc {
			<-ready
		}
		c0 := cpuTime(*pid)
		time.Sleep(*dur)
		out["idle_s"], out["cpu_s"] = dur.Seconds(), cpuTime(*pid)-c0
		wg.Wait()
		out["errors"] = errs
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	out["requests"], out["errors"], out["all_requests"] = len(lat), errs, all
	out["rps"], out["p50_ms"], out["p99_ms"] = float64(len(lat))/dur.Seconds(), pct(0.50), pct(0.99)
	if *count > 0 {
		out["rps"] = float64(len(lat)) / elapsed.Seconds()
		out["bytes"], out["bytes_per_s"] = body, float64(body)/elapsed.Seconds()
	}
	if *pid > 0 {
		cpu := cpuTime(*pid) - cpu0
		out["cpu_s"] = cpu
		if all > 0 {
			out["cpu_s_per_10k"] = cpu / float64(all) * 10000
		}
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

// cpuTime is the user+sys CPU seconds of pid and its descendants, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux);
// 0 when pid is 0.
func cpuTime(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	t, err := procCPU(pid)
	if err != nil {
		fatal("-pid %d: %v", pid, err)
	}
	return t
}

func procCPU(pid int) (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	total := (utime + stime) / 100
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		kids, _ := os.ReadFile(task)
		for _, k := range strings.Fields(string(kids)) {
			if n, err := strconv.Atoi(k); err == nil {
				t, _ := procCPU(n) // a child that exited meanwhile counts 0
				total += t
			}
		}
	}
	return total, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "egressload: "+format+"\n", args...)
	os.Exit(2)
}
