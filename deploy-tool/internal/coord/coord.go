// Package coord owns the coordination of deploy-tool runs: the local lock
// (one run per deploy host, local.go) and, among several deploy hosts, the
// Coordinator that serialises the budget check and mark-down of a batch and
// registers the servers each run has taken out of rotation. Single is the
// Coordinator of one deploy host (no [coordination] section); etcd.go holds
// the one backed by etcd leases.
package coord

import (
	"context"
	"time"
)

// Registration is a server a deploy host has taken out of rotation.
type Registration struct {
	Addr  string // canonical address, as balancer.SameAddr compares
	Host  string // the deploy host's name
	RunID string // the run that took it
	Since time.Time
	Alive bool // the holder's lease is alive
}

// Coordinator serialises among deploy hosts the budget check and mark-down of a batch.
type Coordinator interface {
	// Lock blocks until this run holds the deploy hosts' lock or ctx ends; the budget check and
	// the mark-down of a batch run between Lock and unlock.
	Lock(ctx context.Context) (unlock func(context.Context) error, err error)
	// Taken lists every host's registered servers, this run's included.
	Taken(ctx context.Context) ([]Registration, error)
	// Take registers addrs as this run's until Release.
	Take(ctx context.Context, addrs []string) error
	// Release removes this run's registration of addrs (they are back up).
	Release(ctx context.Context, addrs []string) error
	// Lost is closed when this run's lease is lost (etcd unreachable past the TTL).
	Lost() <-chan struct{}
	Close() error
}

// Single is the Coordinator of a single deploy host: the local lock
// (local.go) already serialises its runs, so every method is a no-op.
type Single struct{}

var _ Coordinator = Single{}

// Lock returns at once with a no-op unlock.
func (Single) Lock(context.Context) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}

// Taken is nil: no other host registers anything.
func (Single) Taken(context.Context) ([]Registration, error) { return nil, nil }

// Take does nothing.
func (Single) Take(context.Context, []string) error { return nil }

// Release does nothing.
func (Single) Release(context.Context, []string) error { return nil }

// Lost is never closed.
func (Single) Lost() <-chan struct{} { return nil }

// Close does nothing.
func (Single) Close() error { return nil }
