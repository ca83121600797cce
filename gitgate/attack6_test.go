package gitgate

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/bottle-sh/bottle/gitgate/policy"
)

// Thousands of requests at once: at most the burst and what the meter
// earns while they run pass it (golang/go#56287 let hundreds through).
func TestAttack6MeterUnderFlood(t *testing.T) {
	g := &Gate{cfg: Config{UpstreamPerMinute: 60}, upstreams: rate.NewLimiter(1, 60)}
	var passed, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 20000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.dial(context.Background(), &policy.Remote{URL: "::bogus"})
			if err != nil && strings.Contains(err.Error(), "try again in") {
				refused.Add(1)
			} else {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("passed %d refused %d in %v", passed.Load(), refused.Load(), time.Since(start))
	if p := passed.Load(); p > 60+int64(time.Since(start)/time.Second)+1 {
		t.Errorf("%d passed the meter", p)
	}
}

// A request the agent gave up on (its connection closed) does not go on
// sleeping for the meter, nor spend a connection on it.
func TestAttack6MeterCanceledRequest(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	w.gate.upstreams.SetLimit(rate.Every(4 * time.Second))
	w.gate.upstreams.SetBurst(1)
	w.gate.upstreams.Allow() // the burst is spent: the next waits 4 s
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/origin/info/refs?service=git-upload-pack", nil).WithContext(ctx)
	before := w.upstream.Served()
	start := time.Now()
	w.gate.ServeHTTP(httptest.NewRecorder(), req)
	if d := time.Since(start); d > time.Second {
		t.Errorf("a canceled request slept %v for the meter", d)
	}
	if after := w.upstream.Served(); after != before {
		t.Errorf("a canceled request was sent upstream (%d sessions, then %d)", before, after)
	}
}
