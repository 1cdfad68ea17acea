package coord

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSingle(t *testing.T) {
	t.Parallel()
	var c Coordinator = Single{}
	ctx := context.Background()
	unlock, err := c.Lock(ctx)
	if err != nil || unlock(ctx) != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := c.Take(ctx, []string{"127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if regs, err := c.Taken(ctx); err != nil || len(regs) != 0 {
		t.Errorf("Taken = %v, %v; want none", regs, err)
	}
	select {
	case <-c.Lost():
		t.Error("Lost closed")
	default:
	}
}

func TestLocalLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state", "deploy-tool.lock")
	l, err := AcquireLock(path, "alice@h pid 1: rollout")
	if err != nil {
		t.Fatal(err)
	}
	if held, who := Locked(path); !held || who != "alice@h pid 1: rollout" {
		t.Errorf("Locked = %v %q", held, who)
	}
	_, err = AcquireLock(path, "bob")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "alice@h") {
		t.Errorf("second AcquireLock: %v; want ErrLocked naming alice", err)
	}
	l.Release()
	if held, _ := Locked(path); held {
		t.Error("still held after Release")
	}
	l2, err := AcquireLock(path, "bob")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}
