package docker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A daemon reached over TCP may keep another time: the times Restart,
// Signal and ComposeUp return are in its clock (log timestamps are), taken
// from the time its /info reports, and never later than its clock.
func TestDaemonNowFollowsARemoteDaemonsClock(t *testing.T) {
	const ahead = time.Hour
	var infos atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/info"):
			infos.Add(1)
			json.NewEncoder(w).Encode(map[string]any{"SystemTime": time.Now().Add(ahead).Format(time.RFC3339Nano)})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("DOCKER_HOST", "tcp://"+strings.TrimPrefix(srv.URL, "http://"))
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 3 {
		before := time.Now()
		got := e.daemonNow(ctx)
		after := time.Now()
		if got.Before(before.Add(ahead-time.Second)) || got.After(after.Add(ahead)) {
			t.Errorf("daemonNow = %v; want within a second before %v", got, after.Add(ahead))
		}
	}
	if n := infos.Load(); n != 1 {
		t.Errorf("asked /info %d times; want once per engine", n)
	}
}
