package docker

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// daemonClock tells the daemon's time, which is what log timestamps (and so
// wait_log's since) are in. A daemon behind a unix socket runs on this
// host's kernel and clock; one reached over TCP or SSH may not, so its
// offset is measured once, from the time the daemon reports in Info.
type daemonClock struct {
	once sync.Once
	skew time.Duration // daemon minus this host
}

// daemonNow is the daemon's clock now, as near as can be told and never
// later than it: Restart, Signal and ComposeUp take it before they act, so
// a wait_log since it sees every line the container prints in response.
func (e *Engine) daemonNow(ctx context.Context) time.Time {
	if strings.HasPrefix(e.api.DaemonHost(), "unix://") {
		return time.Now()
	}
	e.clock.once.Do(func() { e.clock.skew = e.measureSkew(ctx) })
	return time.Now().Add(e.clock.skew)
}

// measureSkew is the daemon's clock minus this host's, erring low: the
// daemon read its clock at some moment of the round trip, and taking the
// last one gives the smallest offset the answer allows. 0 when it cannot
// tell.
func (e *Engine) measureSkew(ctx context.Context) time.Duration {
	res, err := e.api.Info(ctx, client.InfoOptions{})
	after := time.Now()
	if err != nil {
		return 0
	}
	daemon, err := time.Parse(time.RFC3339Nano, res.Info.SystemTime)
	if err != nil {
		return 0
	}
	return daemon.Sub(after)
}
