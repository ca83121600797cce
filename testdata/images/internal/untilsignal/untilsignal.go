// Package untilsignal ends the test images' servers the way a container's
// PID 1 should: on SIGTERM or SIGINT it shuts them down (2 s at most) and
// returns, so the process exits 0; a server that fails first is fatal.
package untilsignal

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"
)

// Serve waits for a signal, or for an error on errc (where the servers'
// Serve results go), then shuts srvs down and logs "stopped".
func Serve(errc <-chan error, srvs ...*http.Server) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range srvs {
		s.Shutdown(shutdown)
	}
	log.Print("stopped")
}
