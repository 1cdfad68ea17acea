package coord

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// serverRecord is the value of /servers/<addr>.
type serverRecord struct {
	Host  string    `json:"host"`
	RunID string    `json:"run_id"`
	Since time.Time `json:"since"`
	Lease string    `json:"lease"` // hex, as in the /lock/ and /hosts/ keys
}

// registered is a /servers/ key as read, with the revision a change is
// conditioned on.
type registered struct {
	Registration
	lease  clientv3.LeaseID
	modRev int64
}

// TakenError is Take's refusal of a server another run registered.
type TakenError struct{ Registration }

func (t *TakenError) Error() string {
	r := t.Registration
	if r.Alive {
		return fmt.Sprintf("%s is out of rotation for host %s (run %s) since %s", r.Addr, r.Host, r.RunID, r.Since.Format(time.RFC3339))
	}
	return fmt.Sprintf("%s was taken out of rotation by host %s (run %s, since %s), whose lease is dead: its state is unknown; `rollout --resume` on %s takes it again, or `up` puts it back once checked",
		r.Addr, r.Host, r.RunID, r.Since.Format(time.RFC3339), r.Host)
}

// canon is the key form of an address: balancer.CanonicalAddr for IP:port,
// the address as written otherwise.
func canon(addr string) string {
	if c, ok := balancer.CanonicalAddr(addr); ok {
		return c
	}
	return addr
}

func serversPrefix(prefix string) string { return prefix + "/servers/" }

// readServers reads every registration under prefix, with Alive from each
// lease's TimeToLive (one call per lease; own is this run's lease, known alive
// while not lost).
func readServers(ctx context.Context, cli *clientv3.Client, prefix string, own clientv3.LeaseID) (map[string]registered, error) {
	resp, err := cli.Get(ctx, serversPrefix(prefix), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: reading %s: %v", serversPrefix(prefix), err)
	}
	out := map[string]registered{}
	alive := map[clientv3.LeaseID]bool{}
	if own != 0 {
		alive[own] = true
	}
	for _, kv := range resp.Kvs {
		addr := strings.TrimPrefix(string(kv.Key), serversPrefix(prefix))
		var rec serverRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, fmt.Errorf("etcd: %s holds %q, not a registration: %v", kv.Key, kv.Value, err)
		}
		id, _ := strconv.ParseInt(rec.Lease, 16, 64)
		lease := clientv3.LeaseID(id)
		a, ok := alive[lease]
		if !ok {
			ttl, err := cli.TimeToLive(ctx, lease)
			if err != nil {
				return nil, fmt.Errorf("etcd: reading lease %s of %s: %v", rec.Lease, kv.Key, err)
			}
			a = ttl.TTL > 0
			alive[lease] = a
		}
		out[addr] = registered{
			Registration: Registration{Addr: addr, Host: rec.Host, RunID: rec.RunID, Since: rec.Since, Alive: a},
			lease:        lease, modRev: kv.ModRevision,
		}
	}
	return out, nil
}

func (e *Etcd) ownLease() clientv3.LeaseID {
	if e.isLost() {
		return 0
	}
	return e.sess.Lease()
}

func (e *Etcd) read(ctx context.Context) (map[string]registered, error) {
	cctx, cancel := e.call(ctx)
	defer cancel()
	return readServers(cctx, e.cli, e.opts.Prefix, e.ownLease())
}

func sorted(m map[string]registered) []Registration {
	out := make([]Registration, 0, len(m))
	for _, r := range m {
		out = append(out, r.Registration)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// Taken lists every registered server, this run's included, by address.
func (e *Etcd) Taken(ctx context.Context) ([]Registration, error) {
	m, err := e.read(ctx)
	if err != nil {
		return nil, err
	}
	return sorted(m), nil
}

func (e *Etcd) record() string {
	b, _ := json.Marshal(serverRecord{Host: e.host, RunID: e.runID, Since: time.Now().UTC(), Lease: leaseHex(e.sess.Lease())})
	return string(b)
}

// Take registers addrs as this run's, all or none. It refuses (a
// *TakenError) a server another run registered, alive or dead. Called under
// Lock, it also fails if the lock was lost meanwhile.
func (e *Etcd) Take(ctx context.Context, addrs []string) error {
	if e.isLost() {
		return ErrLost
	}
	m, err := e.read(ctx)
	if err != nil {
		return err
	}
	cmps := e.ownerCmp()
	var puts []clientv3.Op
	val := e.record()
	for _, a := range addrs {
		key := serversPrefix(e.opts.Prefix) + canon(a)
		r, ok := m[canon(a)]
		switch {
		case ok && r.RunID == e.runID && r.Host == e.host:
			continue // already this run's
		case ok:
			return &TakenError{r.Registration}
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
		puts = append(puts, clientv3.OpPut(key, val))
	}
	if len(puts) == 0 {
		return nil
	}
	return e.commit(ctx, cmps, puts, "registering "+strings.Join(addrs, ", "))
}

// commit runs one transaction: all of ops when all of cmps hold.
func (e *Etcd) commit(ctx context.Context, cmps []clientv3.Cmp, ops []clientv3.Op, what string) error {
	cctx, cancel := e.call(ctx)
	defer cancel()
	resp, err := e.cli.Txn(cctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("etcd: %s: %v", what, err)
	}
	if !resp.Succeeded {
		if e.isLost() {
			return ErrLost
		}
		return fmt.Errorf("etcd: %s: the registrations or the lock changed meanwhile (another deploy host acted without the lock, or this run lost it); nothing was changed", what)
	}
	return nil
}

// Release deletes this run's registration of addrs (servers back up). A
// registration of another run is left alone; a missing one is no error.
// Each delete is conditioned on the registration not having changed since
// it was read, so a concurrent Adopt or Forget is never undone.
func (e *Etcd) Release(ctx context.Context, addrs []string) error {
	m, err := e.read(ctx)
	if err != nil {
		return err
	}
	var cmps []clientv3.Cmp
	var dels []clientv3.Op
	for _, a := range addrs {
		r, ok := m[canon(a)]
		if !ok || r.RunID != e.runID || r.Host != e.host {
			continue
		}
		key := serversPrefix(e.opts.Prefix) + canon(a)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", r.modRev))
		dels = append(dels, clientv3.OpDelete(key))
	}
	if len(dels) == 0 {
		return nil
	}
	return e.commit(ctx, cmps, dels, "releasing "+strings.Join(addrs, ", "))
}

// Adopt is for `rollout --resume`: it makes this run the holder of every
// server that prevRunID (the interrupted run, recorded in its journal)
// registered from this same host, and returns their addresses. The caller
// asserts that run has ended (the local lock proves it): if its lease is
// still alive (a run killed less than lease_ttl ago), Adopt revokes it,
// which also frees the lock at once.
func (e *Etcd) Adopt(ctx context.Context, prevRunID string) ([]string, error) {
	if e.isLost() {
		return nil, ErrLost
	}
	m, err := e.read(ctx)
	if err != nil {
		return nil, err
	}
	var addrs []string
	var cmps []clientv3.Cmp
	var puts []clientv3.Op
	revoke := map[clientv3.LeaseID]bool{}
	val := e.record()
	for addr, r := range m {
		if r.RunID != prevRunID || r.Host != e.host || r.lease == e.sess.Lease() {
			continue
		}
		if r.Alive {
			revoke[r.lease] = true
		}
		key := serversPrefix(e.opts.Prefix) + addr
		addrs = append(addrs, addr)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", r.modRev))
		puts = append(puts, clientv3.OpPut(key, val))
	}
	for id := range revoke {
		if err := e.revoke(id); err != nil {
			return nil, fmt.Errorf("adopting run %s: %w", prevRunID, err)
		}
	}
	sort.Strings(addrs)
	if len(puts) == 0 {
		return nil, nil
	}
	if err := e.commit(ctx, cmps, puts, "adopting "+strings.Join(addrs, ", ")); err != nil {
		return nil, err
	}
	return addrs, nil
}

// Forget deletes the registrations of addrs whose holder's lease is dead,
// whichever host took them: for an operator who has checked such a server
// and put it back by hand. A server an alive run holds is refused.
func (e *Etcd) Forget(ctx context.Context, addrs []string) error {
	m, err := e.read(ctx)
	if err != nil {
		return err
	}
	var cmps []clientv3.Cmp
	var dels []clientv3.Op
	for _, a := range addrs {
		r, ok := m[canon(a)]
		if !ok {
			continue
		}
		if r.Alive && (r.RunID != e.runID || r.Host != e.host) {
			return &TakenError{r.Registration}
		}
		key := serversPrefix(e.opts.Prefix) + canon(a)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", r.modRev))
		dels = append(dels, clientv3.OpDelete(key))
	}
	if len(dels) == 0 {
		return nil
	}
	return e.commit(ctx, cmps, dels, "forgetting "+strings.Join(addrs, ", "))
}
