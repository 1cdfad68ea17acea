package outage

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// drainPoll is how often a drain reads every balancer (and the app's
// in-flight figure): a reload that puts a server back in rotation is seen
// within it.
const drainPoll = 100 * time.Millisecond

// drainResult is how a drain ended, for a report that never says
// "drained" when it only waited, and never gives a figure it did not read.
type drainResult struct {
	took    time.Duration
	bound   time.Duration // drain_timeout
	counted []string      // where an in-flight count read 0: balancers, "the app"
	timed   []string      // balancers without in-flight count, waited drain_wait
	retaken int           // times a server was found back in rotation and taken down again
	// timeout: drain_timeout ended it before the counts read 0, or it ran
	// past drain_timeout (a stopped process, a hung read).
	timeout bool
	past    bool     // it ran past drain_timeout (pastBound)
	left    inflight // what was in flight when it ended
}

// inflight is what one round of a drain read: requests counted in flight
// and where, servers whose app read 0 only once, and the figures that
// could not be read (why).
type inflight struct {
	n       int
	where   []string // "2 on haproxy1 for 10.0.0.1:80", "1 in the app of 10.0.0.1:80"
	pending bool
	unknown []string
}

func (f *inflight) add(g inflight) {
	f.n += g.n
	f.where = append(f.where, g.where...)
	f.pending = f.pending || g.pending
	f.unknown = append(f.unknown, g.unknown...)
}

// String says how many requests were in flight and where; a figure that
// could not be read is "unknown (why)", never a number.
func (f inflight) String() string {
	var parts []string
	if f.n > 0 {
		parts = append(parts, fmt.Sprintf("%d requests still in flight (%s)", f.n, strings.Join(f.where, ", ")))
	}
	if len(f.unknown) > 0 {
		parts = append(parts, "requests in flight unknown ("+strings.Join(f.unknown, "; ")+")")
	}
	switch {
	case len(parts) > 0:
	case f.pending:
		return "the app's figure read 0 once, not yet twice"
	default:
		return "0 requests counted in flight at the end"
	}
	return strings.Join(parts, ", and ")
}

func (r drainResult) String() string {
	var s string
	switch {
	case r.past:
		s = fmt.Sprintf("NOT drained: the drain ran %.2fs, past drain_timeout %v (was deploy-tool stopped, or a read hung?); %s", r.took.Seconds(), r.bound, r.left)
	case r.timeout:
		s = fmt.Sprintf("NOT drained: drain_timeout %v reached after %.2fs with %s", r.bound, r.took.Seconds(), r.left)
	case len(r.timed) > 0:
		s = fmt.Sprintf("waited %.2fs (no in-flight count) on %s", r.took.Seconds(), strings.Join(r.timed, ", "))
		if len(r.counted) > 0 {
			s += "; in flight 0 on " + strings.Join(r.counted, ", ")
		}
	default:
		s = fmt.Sprintf("drained in %.2fs (in flight 0 on %s)", r.took.Seconds(), strings.Join(r.counted, ", "))
	}
	if r.retaken > 0 {
		s += fmt.Sprintf("; taken down again %d times during it", r.retaken)
	}
	return s
}

// drain waits until nothing is in flight to the servers: where a balancer
// reports active requests until they read 0; where one does not, until the
// app's own figure ([drain] inflight_url or inflight_command) reads 0, or
// else for drain_wait; always at most drain_timeout. Every balancer is read
// every drainPoll whatever its kind: a server found back in rotation (a
// reload) is taken down again at once, and its drain starts again.
//
// The bound is on the monotonic clock (stops included), and a round that
// ran past it (pastBound) ends the drain as timed out whatever it reads.
func (o *Outage) drain(servers []config.Server) (drainResult, error) {
	d := o.newDrain(servers)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		roundStart := time.Since(d.t0)
		snap, readErr := o.cl.Read()
		again, where, left, waiting := d.round(snap)
		if readErr != nil {
			left.unknown = append(left.unknown, readErr.Error())
		}
		if len(again) > 0 {
			o.log.Printf("WARNING: during the drain: %s is up again (balancer reloaded?): taking it down again now; its drain starts again", strings.Join(where, "; "))
			if err := o.markDown(again); err != nil {
				return d.res, err
			}
			d.res.retaken++
			for _, s := range again {
				d.since[s.Addr] = time.Now()
				d.zeroApp[s.Addr] = 0
			}
			waiting = true
		}
		if d.app && left.n == 0 && !waiting {
			left.add(o.appInflight(servers, d.zeroApp))
		}
		d.res.took = time.Since(d.t0)
		done := left.n == 0 && len(left.unknown) == 0 && !left.pending && !waiting && len(again) == 0
		d.res.past = pastBound(roundStart, d.res.took, o.times.DrainTimeout)
		if d.res.past || !done && d.res.took >= o.times.DrainTimeout {
			d.res.timeout, d.res.left = true, left
			return d.res, nil
		}
		if done {
			return d.res, nil
		}
		select {
		case <-o.ctx.Done():
			d.res.left = left
			return d.res, ErrInterrupted
		case <-tick.C:
		}
	}
}

// pastBound tells whether a drain round ran past the drain's bound so far
// that the servers were not watched meanwhile: it began more than a poll
// after drain_timeout (the process was stopped between rounds), or its
// reads took over a second and ended past it (stopped, or hung, during
// them). A round that starts within a poll of the bound and reads at once
// is the poll's granularity, not a missed bound.
func pastBound(roundStart, took, bound time.Duration) bool {
	return took > bound+drainPoll && (roundStart > bound+drainPoll || took-roundStart > time.Second)
}

// drainState is a drain under way.
type drainState struct {
	o         *Outage
	servers   []config.Server
	t0        time.Time
	res       drainResult
	app       bool                 // the app's own figure is read
	timedBals map[string]bool      // balancers without in-flight count, waited drain_wait
	since     map[string]time.Time // each server's last marking down
	zeroApp   map[string]int       // consecutive reads of 0 from the app
}

func (o *Outage) newDrain(servers []config.Server) *drainState {
	d := &drainState{o: o, servers: servers, t0: time.Now(), app: o.times.Inflight.Configured(), res: drainResult{bound: o.times.DrainTimeout},
		timedBals: map[string]bool{}, since: map[string]time.Time{}, zeroApp: map[string]int{}}
	for _, b := range o.cl.bals {
		if b.ReportsActive() {
			d.res.counted = append(d.res.counted, b.Name())
		} else if !d.app {
			d.timedBals[b.Name()] = true
			d.res.timed = append(d.res.timed, b.Name())
		}
	}
	if d.app {
		d.res.counted = append(d.res.counted, "the app ("+o.times.Inflight.Source()+")")
	}
	for _, s := range servers {
		d.since[s.Addr] = d.t0
	}
	return d
}

// round reads one snapshot: the servers back in rotation (again, where),
// the requests the balancers count in flight and where, and whether a
// timed wait is still running.
func (d *drainState) round(snap balancer.Snapshot) (again []config.Server, where []string, left inflight, waiting bool) {
	for _, s := range d.servers {
		if up := snap.UpSomewhere(s.Addr); len(up) > 0 {
			again = append(again, s)
			where = append(where, s.Addr+" on "+strings.Join(up, ", "))
			continue
		}
		known := false // to a balancer without in-flight count
		for _, b := range d.o.cl.bals {
			for _, e := range snap.Entries(b.Name(), s.Addr) {
				if b.ReportsActive() && e.Active > 0 {
					left.n += e.Active
					left.where = append(left.where, fmt.Sprintf("%d on %s for %s", e.Active, b.Name(), s.Addr))
				}
				if d.timedBals[b.Name()] {
					known = true
				}
			}
		}
		// Every server is read down at least once drainPoll after its
		// last marking: for a moment after a reload, nginx's old
		// workers still answer with the state from before it.
		if known && time.Since(d.since[s.Addr]) < d.o.times.DrainWait || time.Since(d.since[s.Addr]) < 2*drainPoll {
			waiting = true
		}
	}
	return again, where, left, waiting
}

// appInflight reads the app's figure of every server that has not read 0
// twice in a row (a request the balancer sent just before the down flag may
// not have reached the app at the first read): what is in flight and
// where, whether a server read 0 only once (pending), and why a figure
// could not be read. A figure not read is never counted as a number.
func (o *Outage) appInflight(servers []config.Server, zero map[string]int) inflight {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var res inflight
	for _, s := range servers {
		if zero[s.Addr] >= 2 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := readInflight(o.times.Inflight, s)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.unknown = append(res.unknown, err.Error())
				zero[s.Addr] = 0
			case n > 0:
				zero[s.Addr] = 0
				res.n += n
				res.where = append(res.where, fmt.Sprintf("%d in the app of %s", n, s.Addr))
			default:
				zero[s.Addr]++
				res.pending = res.pending || zero[s.Addr] < 2
			}
		}()
	}
	wg.Wait()
	sort.Strings(res.where)
	sort.Strings(res.unknown)
	return res
}

// checkDrainCovers refuses, before anything is touched, a timed drain
// shorter than the longest request: where a balancer reports no in-flight
// count and the app's own figure is not configured, drain_wait is all that
// protects the requests in flight, and a request still running when the app
// restarts is cut (a 502 for a POST, and a failure counted by nginx).
func CheckDrainCovers(c *config.Config, cl *Cluster) error {
	if c.Drain.Configured() {
		return nil
	}
	var timed []string
	for _, b := range cl.bals {
		if !b.ReportsActive() {
			timed = append(timed, b.Name())
		}
	}
	if len(timed) == 0 {
		return nil
	}
	names := strings.Join(timed, ", ")
	if c.MaxRequestTime == 0 {
		return fmt.Errorf("balancer %s reports no in-flight count, so the drain is a timed wait of drain_wait %v: set max_request_time (the longest a request may take, at least nginx's proxy_read_timeout) with drain_wait at least as long, or [drain] inflight_url", names, c.DrainWait.D())
	}
	if c.DrainWait < c.MaxRequestTime {
		return fmt.Errorf("drain_wait %v is shorter than max_request_time %v, and balancer %s reports no in-flight count: requests still running would be cut; set drain_wait to at least %v, or [drain] inflight_url", c.DrainWait.D(), c.MaxRequestTime.D(), names, c.MaxRequestTime.D())
	}
	return nil
}
