package coord

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Holder is the run that holds the deploy hosts' lock.
type Holder struct {
	Host  string
	RunID string
	Since time.Time // zero if the holder has not written it yet
	Lease string    // hex
}

func (h *Holder) String() string {
	if h.Host == "" {
		return "lease " + h.Lease + " (host unknown)"
	}
	s := fmt.Sprintf("host %s (run %s", h.Host, h.RunID)
	if !h.Since.IsZero() {
		s += ", since " + h.Since.Format(time.RFC3339)
	}
	return s + ")"
}

// ServerStatus is a registration as `deploy-tool status` shows it.
type ServerStatus struct {
	Registration
	Age time.Duration // since it was taken, by this host's clock
}

// Status is what etcd knows of the deploy hosts, read at one moment.
type Status struct {
	Prefix  string
	Holder  *Holder // nil when nobody holds the lock
	Waiting int     // runs waiting for the lock
	Servers []ServerStatus
}

// ReadStatus connects (within opts.DialTimeout), reads the lock holder and
// every registration, and disconnects. It writes nothing and takes no lease.
func ReadStatus(ctx context.Context, opts Options) (*Status, error) {
	fillDefaults(&opts)
	cli, err := dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	defer cancel()
	st := &Status{Prefix: opts.Prefix}
	if st.Holder, err = readHolder(cctx, cli, opts.Prefix); err != nil {
		return nil, err
	}
	n, err := cli.Get(cctx, opts.Prefix+"/lock/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd: reading %s/lock/: %v", opts.Prefix, err)
	}
	if n.Count > 0 {
		st.Waiting = int(n.Count) - 1
	}
	m, err := readServers(cctx, cli, opts.Prefix, 0)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, r := range sorted(m) {
		st.Servers = append(st.Servers, ServerStatus{Registration: r, Age: now.Sub(r.Since)})
	}
	return st, nil
}

// readHolder finds the lock's owner (the oldest /lock/ key, as
// concurrency.Mutex decides) and its /hosts/ record; nil if none.
func readHolder(ctx context.Context, cli *clientv3.Client, prefix string) (*Holder, error) {
	lockPfx := prefix + "/lock/"
	resp, err := cli.Get(ctx, lockPfx, clientv3.WithFirstCreate()...)
	if err != nil {
		return nil, fmt.Errorf("etcd: reading %s: %v", lockPfx, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	lease := strings.TrimPrefix(string(resp.Kvs[0].Key), lockPfx)
	if _, err := strconv.ParseInt(lease, 16, 64); err != nil {
		return nil, fmt.Errorf("etcd: %s is not a lock key of deploy-tool", resp.Kvs[0].Key)
	}
	h := &Holder{Lease: lease}
	hr, err := cli.Get(ctx, prefix+"/hosts/"+lease)
	if err != nil {
		return nil, fmt.Errorf("etcd: reading %s/hosts/%s: %v", prefix, lease, err)
	}
	if len(hr.Kvs) == 1 {
		var rec hostRecord
		if json.Unmarshal(hr.Kvs[0].Value, &rec) == nil {
			h.Host, h.RunID, h.Since = rec.Host, rec.RunID, rec.LockedSince
		}
	}
	return h, nil
}
