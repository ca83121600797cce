package runtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
)

// DefaultUndoTimeout bounds each undo step of a rollback.
const DefaultUndoTimeout = 60 * time.Second

// undoJournal is the run's builtins.Journal.
type undoJournal struct {
	mu    sync.Mutex
	steps []undoStep
}

type undoStep struct {
	what string
	undo func(ctx context.Context) error
}

// Record implements builtins.Journal.
func (j *undoJournal) Record(what string, undo func(ctx context.Context) error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.steps = append(j.steps, undoStep{what, undo})
}

// Len is the number of recorded steps.
func (j *undoJournal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.steps)
}

// rollback runs every recorded undo in reverse order, each with a fresh
// context bounded by timeout (the run's own context is cancelled by now). It
// runs all of them even when some fail, and returns every failure.
func (j *undoJournal) rollback(timeout time.Duration, p *progress) error {
	j.mu.Lock()
	steps := j.steps
	j.steps = nil
	j.mu.Unlock()
	var all *multierror.Error
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		start := time.Now()
		err := runUndo(s, timeout)
		p.undo(s.what, time.Since(start), err)
		if err != nil {
			all = multierror.Append(all, fmt.Errorf("undo %s: %w", s.what, err))
		}
	}
	if all == nil {
		return nil
	}
	all.ErrorFormat = undoErrorFormat
	return all
}

// runUndo runs one undo with its own timeout, turning a panic into an error so
// that the steps after it still run.
func runUndo(s undoStep, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- s.undo(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The undo ignores its context; do not let it hold up the others.
		return fmt.Errorf("gave up after %s", timeout)
	}
}

func undoErrorFormat(errs []error) string {
	s := fmt.Sprintf("%d undo step(s) failed:", len(errs))
	for _, e := range errs {
		s += "\n  * " + strings.ReplaceAll(e.Error(), "\n", "\n    ")
	}
	return s
}
