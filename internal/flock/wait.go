package flock

import (
	"context"
	"os"
	"time"
)

// Poll is how often Wait tries again while another open file holds the lock.
// flock(2) has no wait that a context can cancel, so Wait polls; a lock is
// held for the length of a bottle run, which makes 50 ms unnoticeable.
const Poll = 50 * time.Millisecond

// Wait takes an exclusive lock on f, trying again every Poll while another
// open file holds it, until ctx is done: then it returns context.Cause(ctx).
// waiting, when not nil, is called once, the first time the lock is found
// held, so that the caller can say what it waits for.
func Wait(ctx context.Context, f *os.File, waiting func()) error {
	for {
		ok, err := Try(f)
		if err != nil || ok {
			return err
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(Poll):
		}
	}
}
