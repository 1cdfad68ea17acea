package outage

import (
	"fmt"
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
// "drained" when it only waited.
type drainResult struct {
	took    time.Duration
	left    int      // requests in flight at drain_timeout (-1: unknown)
	counted []string // where an in-flight count read 0: balancers, "the app"
	timed   []string // balancers without in-flight count, waited drain_wait
	retaken int      // times a server was found back in rotation and taken down again
	timeout bool     // drain_timeout ended it before the counts read 0
}

func (r drainResult) String() string {
	var s string
	switch {
	case r.timeout && r.left > 0:
		s = fmt.Sprintf("NOT drained: drain_timeout reached after %.2fs with %d requests still in flight", r.took.Seconds(), r.left)
	case r.timeout:
		s = fmt.Sprintf("NOT drained: drain_timeout reached after %.2fs and the in-flight count could not be read", r.took.Seconds())
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
func (o *Outage) drain(servers []config.Server) (drainResult, error) {
	d := o.newDrain(servers)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		snap, readErr := o.cl.Read()
		again, where, left, waiting := d.round(snap)
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
		if d.app && left == 0 && !waiting {
			n, err := o.appInflight(servers, d.zeroApp)
			if err != nil {
				readErr = err
			}
			left += n
		}
		d.res.took = time.Since(d.t0)
		if readErr == nil && left == 0 && !waiting && len(again) == 0 {
			return d.res, nil
		}
		if d.res.took >= o.times.DrainTimeout {
			return o.drainTimedOut(d.res, left, readErr), nil
		}
		select {
		case <-o.ctx.Done():
			d.res.left = left
			return d.res, ErrInterrupted
		case <-tick.C:
		}
	}
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
	d := &drainState{o: o, servers: servers, t0: time.Now(), app: o.times.Inflight.Configured(),
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
// the requests the balancers count in flight, and whether a timed wait
// is still running.
func (d *drainState) round(snap balancer.Snapshot) (again []config.Server, where []string, left int, waiting bool) {
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
					left += e.Active
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

// drainTimedOut is the result of a drain ended by drain_timeout.
func (o *Outage) drainTimedOut(res drainResult, left int, readErr error) drainResult {
	res.timeout = true
	res.left = left
	if readErr != nil {
		o.log.Printf("WARNING: drain_timeout %v reached: %v", o.times.DrainTimeout, readErr)
		if left == 0 {
			res.left = -1
		}
	}
	return res
}

// appInflight reads the app's figure of every server that has not read 0
// twice in a row (a request the balancer sent just before the down flag may
// not have reached the app at the first read). It returns the sum still in
// flight, counting a server not yet read 0 twice as 1.
func (o *Outage) appInflight(servers []config.Server, zero map[string]int) (int, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	left := 0
	var errs []error
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
				errs = append(errs, err)
				zero[s.Addr] = 0
				left++
			case n > 0:
				zero[s.Addr] = 0
				left += n
			default:
				zero[s.Addr]++
				if zero[s.Addr] < 2 {
					left++
				}
			}
		}()
	}
	wg.Wait()
	return left, joinErrors(errs)
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
