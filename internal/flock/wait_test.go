//go:build unix

package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Wait returns once the holder lets go, having said once that it waits.
func TestWaitTakesTheLockWhenReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	holder, waiter := open(t, path), open(t, path)
	if ok, err := Try(holder); !ok || err != nil {
		t.Fatalf("Try = %v, %v", ok, err)
	}
	time.AfterFunc(3*Poll, func() { holder.Close() })
	said := 0
	if err := Wait(t.Context(), waiter, func() { said++ }); err != nil {
		t.Fatal(err)
	}
	if said != 1 {
		t.Errorf("waiting called %d times, want 1", said)
	}
	if ok, _ := Try(open(t, path)); ok {
		t.Error("a third open file got the lock Wait took")
	}
}

// A free lock is taken at once, without a word; a held one is given up when
// the context ends, with the context's cause.
func TestWaitGivesUpWithTheCause(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	if err := Wait(t.Context(), open(t, path), func() { t.Error("waiting called for a free lock") }); err != nil {
		t.Fatal(err)
	}
	stillHeld := errors.New("still held")
	ctx, cancel := context.WithTimeoutCause(t.Context(), 2*Poll, stillHeld)
	defer cancel()
	if err := Wait(ctx, open(t, path), nil); !errors.Is(err, stillHeld) {
		t.Fatalf("Wait = %v, want %v", err, stillHeld)
	}
}
