package coord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Etcd is the Coordinator of several deploy hosts, backed by etcd. Under
// Options.Prefix it keeps:
//
//	/lock/<lease>     the deploy hosts' lock (a concurrency.Mutex), under this run's lease
//	/hosts/<lease>    who holds the lease (host, run id, started, locked since), under the lease
//	/servers/<addr>   a server taken out of rotation: JSON {host, run_id, since, lease},
//	                  NOT under the lease
//
// A host that dies loses its lease after the TTL: its lock is freed, so no
// other host waits for it longer, but its servers stay registered (nobody
// knows their state) with Alive false; other hosts count them unavailable
// and never take them. Only the same host's resumed run takes them again
// (Adopt), or an operator who knows their state (Forget).
type Etcd struct {
	opts  Options
	host  string
	runID string
	cli   *clientv3.Client
	sess  *concurrency.Session
	stop  context.CancelFunc // ends the session's keep-alive
	lost  chan struct{}
	start time.Time

	// turn lets one Lock of this process at a time go to etcd: a session
	// has one key under /lock/, so two Locks of one session would both
	// believe they hold it.
	turn   chan struct{}
	mu     sync.Mutex
	locked *concurrency.Mutex // held between Lock and its unlock
}

var _ Coordinator = (*Etcd)(nil)

// ErrLost is returned once this run's lease is lost: etcd was unreachable
// for longer than the TTL, or Close was called.
var ErrLost = errors.New("the run's etcd lease is lost (etcd unreachable past lease_ttl): other deploy hosts may now act")

// hostRecord is the value of /hosts/<lease>.
type hostRecord struct {
	Host        string    `json:"host"`
	RunID       string    `json:"run_id"`
	Started     time.Time `json:"started"`
	LockedSince time.Time `json:"locked_since,omitzero"`
}

// NewEtcd connects to etcd within opts.DialTimeout, checks it answers
// under the prefix, and starts this run's session (a lease of
// opts.LeaseTTL kept alive until Close). host is the deploy host's name,
// runID this run's id (recorded in the journal, so that --resume can
// Adopt what it took). An error means nothing was touched.
func NewEtcd(ctx context.Context, opts Options, host, runID string) (*Etcd, error) {
	if host == "" || runID == "" {
		return nil, errors.New("coord.NewEtcd: host and run id are required")
	}
	fillDefaults(&opts)
	cli, err := dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	e := &Etcd{opts: opts, host: host, runID: runID, cli: cli, lost: make(chan struct{}), turn: make(chan struct{}, 1), start: time.Now().UTC()}
	if err := e.startSession(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	go func() {
		<-e.sess.Done()
		close(e.lost)
	}()
	return e, nil
}

func fillDefaults(o *Options) {
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.LockWait == 0 {
		o.LockWait = DefaultLockWait
	}
}

// dial connects and reads under the prefix once, so that an unreachable
// etcd, refused credentials or a missing permission show at preflight.
func dial(ctx context.Context, opts Options) (*clientv3.Client, error) {
	where := "etcd " + strings.Join(opts.Endpoints, ", ")
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    opts.LeaseTTL / 2,
		DialKeepAliveTimeout: opts.CallTimeout,
		TLS:                  opts.TLS,
		Username:             opts.Username,
		Password:             string(opts.Password),
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	cctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, opts.Prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		if errors.Is(cctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s did not answer within %v (coordination.etcd_endpoints): %v%s", where, opts.DialTimeout, err, diagnose(opts))
		}
		return nil, fmt.Errorf("%s: reading %s: %v", where, opts.Prefix, err)
	}
	return cli, nil
}

func (e *Etcd) startSession(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, e.opts.CallTimeout)
	defer cancel()
	ttl := int64(e.opts.LeaseTTL / time.Second)
	g, err := e.cli.Grant(cctx, ttl)
	if err != nil {
		return fmt.Errorf("etcd: granting a lease of %v: %v", e.opts.LeaseTTL, err)
	}
	sctx, stop := context.WithCancel(context.Background())
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(int(ttl)), concurrency.WithLease(g.ID), concurrency.WithContext(sctx))
	if err != nil {
		stop()
		e.revoke(g.ID)
		return fmt.Errorf("etcd: keeping the lease alive: %v", err)
	}
	e.sess, e.stop = sess, stop
	rec := hostRecord{Host: e.host, RunID: e.runID, Started: e.start}
	if err := e.putHost(cctx, rec); err != nil {
		e.sess.Orphan()
		stop()
		e.revoke(g.ID)
		return err
	}
	return nil
}

func leaseHex(id clientv3.LeaseID) string { return strconv.FormatInt(int64(id), 16) }

func (e *Etcd) hostKey() string { return e.opts.Prefix + "/hosts/" + leaseHex(e.sess.Lease()) }

func (e *Etcd) putHost(ctx context.Context, rec hostRecord) error {
	b, _ := json.Marshal(rec)
	if _, err := e.cli.Put(ctx, e.hostKey(), string(b), clientv3.WithLease(e.sess.Lease())); err != nil {
		return fmt.Errorf("etcd: writing %s: %v", e.hostKey(), err)
	}
	return nil
}

// call is the deadline of one etcd call.
func (e *Etcd) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.CallTimeout)
}

// Lost is closed when the run's lease is lost (etcd unreachable for longer
// than the TTL), and after Close.
func (e *Etcd) Lost() <-chan struct{} { return e.lost }

func (e *Etcd) isLost() bool {
	select {
	case <-e.lost:
		return true
	default:
		return false
	}
}

// Lock waits, at most opts.LockWait and while the lease lives, until this
// run holds the deploy hosts' lock. The lock is under the run's lease: a
// dead holder frees it within lease_ttl.
func (e *Etcd) Lock(ctx context.Context) (func(context.Context) error, error) {
	if e.isLost() {
		return nil, ErrLost
	}
	lctx, cancel := context.WithTimeout(ctx, e.opts.LockWait)
	defer cancel()
	select {
	case e.turn <- struct{}{}:
	case <-lctx.Done():
		return nil, e.lockError(ctx, lctx, lctx.Err())
	}
	unlock, err := e.lock(ctx, lctx, cancel)
	if err != nil {
		<-e.turn
	}
	return unlock, err
}

func (e *Etcd) lock(ctx, lctx context.Context, cancel context.CancelFunc) (func(context.Context) error, error) {
	go func() {
		select {
		case <-e.lost:
			cancel()
		case <-lctx.Done():
		}
	}()
	m := concurrency.NewMutex(e.sess, e.opts.Prefix+"/lock")
	if err := m.Lock(lctx); err != nil {
		return nil, e.lockError(ctx, lctx, err)
	}
	e.mu.Lock()
	e.locked = m
	e.mu.Unlock()
	cctx, ccancel := e.call(ctx)
	defer ccancel()
	// Only for status: who holds the lock since when. Not critical.
	_ = e.putHost(cctx, hostRecord{Host: e.host, RunID: e.runID, Started: e.start, LockedSince: time.Now().UTC()})
	var once sync.Once
	return func(ctx context.Context) error {
		var err error
		once.Do(func() { err = e.unlock(ctx, m) })
		return err
	}, nil
}

func (e *Etcd) lockError(ctx, lctx context.Context, err error) error {
	switch {
	case e.isLost():
		return ErrLost
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(lctx.Err(), context.DeadlineExceeded):
		holder := "another deploy host"
		rctx, cancel := e.call(context.Background())
		defer cancel()
		if h, err := readHolder(rctx, e.cli, e.opts.Prefix); err == nil && h != nil {
			holder = h.String()
		}
		return fmt.Errorf("waited %v for the deploy hosts' lock, held by %s", e.opts.LockWait, holder)
	}
	return fmt.Errorf("etcd: taking the deploy hosts' lock: %v", err)
}

func (e *Etcd) unlock(ctx context.Context, m *concurrency.Mutex) error {
	e.mu.Lock()
	if e.locked == m {
		e.locked = nil
	}
	e.mu.Unlock()
	defer func() { <-e.turn }()
	cctx, cancel := e.call(ctx)
	defer cancel()
	if err := m.Unlock(cctx); err != nil {
		return fmt.Errorf("etcd: releasing the deploy hosts' lock: %v (it is freed within lease_ttl anyway)", err)
	}
	return nil
}

// ownerCmp is the condition that this run still holds the lock, when it
// has taken it: a Take made under the lock fails if the lock was lost.
func (e *Etcd) ownerCmp() []clientv3.Cmp {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.locked == nil {
		return nil
	}
	return []clientv3.Cmp{e.locked.IsOwner()}
}

// Close ends the session: the lease is revoked, which frees the lock at
// once. Registrations stay (Release removes those whose servers are back
// up); Lost is closed.
func (e *Etcd) Close() error {
	e.sess.Orphan()
	e.stop()
	err := e.revoke(e.sess.Lease())
	<-e.lost
	if cerr := e.cli.Close(); err == nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
		err = cerr
	}
	return err
}

func (e *Etcd) revoke(id clientv3.LeaseID) error {
	cctx, cancel := e.call(context.Background())
	defer cancel()
	if _, err := e.cli.Revoke(cctx, id); err != nil {
		return fmt.Errorf("etcd: revoking the run's lease: %v (it expires within lease_ttl anyway)", err)
	}
	return nil
}
