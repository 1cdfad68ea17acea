package balancer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Snapshot is what a set of balancers reported at one moment: the shared
// view that deploy-tool and mackerel-plugin-upstream both read balancers
// through, so that they agree on which entry is which server and on what
// "in rotation" and "serving" mean.
type Snapshot struct {
	order   []string
	servers map[string][]Server
	errs    map[string]error
}

// ReadAll lists every balancer at once, each call bounded by ctx (the
// drivers also have their own per-call timeouts). A balancer that cannot be
// read is recorded in the snapshot (Err) and left out of every answer; the
// returned error joins those errors on one line, each naming its balancer.
func ReadAll(ctx context.Context, bals []Balancer) (Snapshot, error) {
	s := Snapshot{servers: map[string][]Server{}, errs: map[string]error{}}
	lists := make([][]Server, len(bals))
	errs := make([]error, len(bals))
	var wg sync.WaitGroup
	for i, b := range bals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i], errs[i] = b.List(ctx)
		}()
	}
	wg.Wait()
	var msgs []string
	for i, b := range bals {
		s.order = append(s.order, b.Name())
		if err := errs[i]; err != nil {
			if !strings.Contains(err.Error(), "balancer "+b.Name()) {
				err = fmt.Errorf("balancer %s: %w", b.Name(), err)
			}
			s.errs[b.Name()] = err
			msgs = append(msgs, err.Error())
			continue
		}
		s.servers[b.Name()] = lists[i]
	}
	if len(msgs) > 0 {
		return s, errors.New(strings.Join(msgs, "; "))
	}
	return s, nil
}

// Balancers names every balancer read, in the order given to ReadAll.
func (s Snapshot) Balancers() []string { return s.order }

// Err is the error reading the balancer, nil when it was read.
func (s Snapshot) Err(bal string) error { return s.errs[bal] }

// Servers is every entry the balancer listed (nil when it was not read).
func (s Snapshot) Servers(bal string) []Server { return s.servers[bal] }

// Entries are the balancer's entries for a server address (in any form
// SameAddr accepts), in every upstream that has it.
func (s Snapshot) Entries(bal, addr string) []Server {
	var out []Server
	for _, e := range s.servers[bal] {
		if SameAddr(e.Addr, addr) {
			out = append(out, e)
		}
	}
	return out
}

// UpOn reports whether the server is in rotation on the balancer (in any
// of its upstreams), and whether the balancer lists it at all.
func (s Snapshot) UpOn(bal, addr string) (up, known bool) {
	es := s.Entries(bal, addr)
	for _, e := range es {
		if e.State == Up {
			return true, true
		}
	}
	return false, len(es) > 0
}

// DownSomewhere names, as "balancer/upstream (state)", every entry of the
// server that is out of rotation (down, draining or maintenance).
func (s Snapshot) DownSomewhere(addr string) []string {
	var out []string
	for _, b := range s.order {
		for _, e := range s.Entries(b, addr) {
			if e.State != Up {
				out = append(out, b+"/"+e.Upstream+" ("+string(e.State)+")")
			}
		}
	}
	return out
}

// UpSomewhere names the balancers on which the server is in rotation.
func (s Snapshot) UpSomewhere(addr string) []string {
	var out []string
	for _, b := range s.order {
		if up, _ := s.UpOn(b, addr); up {
			out = append(out, b)
		}
	}
	return out
}

// NotServing is every address (on any balancer read, in any upstream) that
// is not serving somewhere: out of rotation, or failing the balancer's own
// health checks (see Serving). Those servers are already unavailable.
func (s Snapshot) NotServing() map[string]bool {
	m := map[string]bool{}
	for _, b := range s.order {
		for _, e := range s.servers[b] {
			if !Serving(e) {
				m[e.Addr] = true
			}
		}
	}
	return m
}

// AssumeServing is the snapshot with every entry of the addresses in
// rotation and healthy: what a later read will show once they are back up.
func (s Snapshot) AssumeServing(addrs []string) Snapshot {
	out := Snapshot{order: s.order, errs: s.errs, servers: map[string][]Server{}}
	for b, entries := range s.servers {
		cp := append([]Server(nil), entries...)
		for i := range cp {
			for _, a := range addrs {
				if SameAddr(cp[i].Addr, a) {
					cp[i].State, cp[i].Health = Up, ""
				}
			}
		}
		out.servers[b] = cp
	}
	return out
}

// AssumeNotServing is the snapshot with every entry of the addresses out
// of rotation: what a later read will show once another deploy host has
// marked them down.
func (s Snapshot) AssumeNotServing(addrs []string) Snapshot {
	if len(addrs) == 0 {
		return s
	}
	out := Snapshot{order: s.order, errs: s.errs, servers: map[string][]Server{}}
	for b, entries := range s.servers {
		cp := append([]Server(nil), entries...)
		for i := range cp {
			for _, a := range addrs {
				if SameAddr(cp[i].Addr, a) {
					cp[i].State = Down
				}
			}
		}
		out.servers[b] = cp
	}
	return out
}
