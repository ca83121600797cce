package builtins

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/bottle-sh/bottle/engine"
)

// CreateLabel marks an engine object with a token of the call that made
// it, so that the call's undo finds it even when the call gave up before
// the daemon answered (an interrupted run) and no id came back.
const CreateLabel = "dev.bottle.create"

func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// settleFor and settleQuiet bound how long an undo of an interrupted create
// keeps looking: the daemon may finish a create a moment after the client
// gave up, so one empty list is not proof that nothing is coming.
const (
	settleFor   = 5 * time.Second
	settleQuiet = 1500 * time.Millisecond
	settlePoll  = 250 * time.Millisecond
)

// removeLabelled runs remove (which removes what carries labels, by id, and
// says how many it found). When the call that made them gave up (an
// interrupted run: gaveUp says so), it keeps at it until nothing has turned
// up for settleQuiet (at most settleFor): what the daemon was still making
// when the client gave up is removed too.
func removeLabelled(ctx context.Context, e engine.Engine, labels map[string]string, gaveUp bool,
	remove func(context.Context, engine.Engine, map[string]string) (int, error)) error {
	_, err := remove(ctx, e, labels)
	if err != nil || !gaveUp {
		return err
	}
	deadline := time.Now().Add(settleFor)
	quietSince := time.Now()
	for time.Now().Before(deadline) && time.Since(quietSince) < settleQuiet {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settlePoll):
		}
		n, err := remove(ctx, e, labels)
		if err != nil {
			return err
		}
		if n > 0 {
			quietSince = time.Now()
		}
	}
	return nil
}

// callWatch tells an undo recorded before an engine call whether the call
// gave up: it is true until the call returns an answer of the daemon's.
type callWatch struct{ answered atomic.Bool }

// done records how the call ended: an error while the run's context is
// cancelled means the client gave up, not that the daemon said no.
func (w *callWatch) done(ctx context.Context, err error) {
	w.answered.Store(err == nil || ctx.Err() == nil)
}

func (w *callWatch) gaveUp() bool { return !w.answered.Load() }
