// Package push delivers a host's spooled fleet contributions to Redis. It is
// run as a command of its own (Main: `mackerel-plugin-accesslog-push push`,
// or the aggregator's hidden `push` command) that mackerel-plugin-accesslog starts only
// when --fleet-redis is given: the plugin itself then links no Redis client,
// TLS or network stack, and a run without --fleet-redis stays cheap.
//
// The plugin writes a fleet.PushRequest as JSON on the command's stdin (so
// that no URL that holds a password shows in ps), and reads a
// fleet.PushReport as one line of JSON from its stdout; every warning is one
// line on stderr.
package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// Main runs the command: a fleet.PushRequest on stdin, a fleet.PushReport on
// stdout, warnings on stderr. It exits 0 when a report was printed (a delivery that failed is in
// it as pending), 2 when the request cannot be read.
func Main(stdin io.Reader, stdout, stderr io.Writer) int {
	var req fleet.PushRequest
	if err := json.NewDecoder(stdin).Decode(&req); err != nil {
		fmt.Fprintf(stderr, "push: read the request on stdin: %v\n", err)
		return 2
	}
	if req.Spool == "" || req.URL == "" || req.Timeout <= 0 || req.SpoolMax < 1 {
		fmt.Fprintln(stderr, "push: the request on stdin lacks spool, url, timeout or spool_max")
		return 2
	}
	r := Deliver(&req, func(msg string) { fmt.Fprintln(stderr, msg) })
	if err := json.NewEncoder(stdout).Encode(r); err != nil {
		return 1
	}
	return 0
}

// Deliver sends every spooled contribution to Redis, oldest run first,
// within req.Timeout, drops the oldest beyond req.SpoolMax, and says what
// is left. Redis being down or slow is a warning; what was not delivered
// stays in the spool for a later run.
func Deliver(req *fleet.PushRequest, warn func(string)) fleet.PushReport {
	var r fleet.PushReport
	sp := fleet.Spool{Dir: req.Spool}
	unlock, err := state.Lock(req.Spool)
	if err != nil { // another run of this instance is delivering
		warn(fmt.Sprintf("%v: not delivering in this run", err))
		r.Pending, r.PendingRequests = sp.Count()
		return r
	}
	defer unlock()
	all, err := sp.Load()
	if err != nil {
		warn(err.Error())
	}
	// A contribution spooled by a run that began after this one is left to
	// that run: it may yet fail to save its logs' states and be repeated
	// under the same id with more lines.
	var spooled []*fleet.Contribution
	for _, c := range all {
		if c.At > req.Now {
			r.Pending++
			r.PendingRequests += c.All.Total
		} else {
			spooled = append(spooled, c)
		}
	}
	if len(spooled) == 0 {
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), req.Timeout)
	defer cancel()
	r.Delivered, err = send(ctx, req, sp, spooled, warn)
	left := spooled[r.Delivered:]
	if over := len(left) - req.SpoolMax; over > 0 {
		r.Dropped = drop(req, sp, left[:over], warn)
		left = left[over:]
	}
	if err != nil {
		warn(fmt.Sprintf("%v; %d contributions kept in %s for a later run", err, len(left), req.Spool))
	}
	for _, c := range left {
		r.Pending++
		r.PendingRequests += c.All.Total
	}
	return r
}

// drop removes the oldest undelivered contributions when the spool is
// full, and says what was lost.
func drop(req *fleet.PushRequest, sp fleet.Spool, oldest []*fleet.Contribution, warn func(string)) int {
	var requests uint64
	n := 0
	for _, c := range oldest {
		if err := sp.Remove(c); err == nil {
			n++
			requests += c.All.Total
		}
	}
	warn(fmt.Sprintf("spool over --fleet-spool-max %d: dropped the %d oldest contributions (%d requests, windows from %s); they will not count in the service's metrics",
		req.SpoolMax, n, requests, oldest[0].Window))
	return n
}

// Clock is this host's clock, compared with Redis's (tests set one that is
// behind).
var Clock = time.Now

// describeOffset says "120 s behind" or "3 s ahead of".
func describeOffset(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 0 {
		return fmt.Sprintf("%d s behind", -s)
	}
	return fmt.Sprintf("%d s ahead of", s)
}

func send(ctx context.Context, req *fleet.PushRequest, sp fleet.Spool, spooled []*fleet.Contribution, warn func(string)) (int, error) {
	st, err := redisstore.Open(redisstore.Config{
		URL: req.URL, PasswordFile: req.PasswordFile, CAFile: req.CAFile, Cluster: req.Cluster, Kind: req.Kind,
		Timeout: min(2*time.Second, req.Timeout),
	}, req.Service)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	st.Clock = Clock
	warned := false
	for i, c := range spooled {
		out, err := st.Deliver(ctx, c, sp.Save)
		if offset, grace := st.ClockOffset(); !warned && redisstore.OffClock(offset, grace) {
			warned = true
			warn(fmt.Sprintf("this host's clock is %s Redis's, more than the service's grace %s: its contributions are counted in the window open by Redis's clock when they arrive, not in the minute they were read; set the clock right (NTP)",
				describeOffset(offset), grace))
		}
		if err != nil {
			return i, err
		}
		if req.Verbose {
			warn(fmt.Sprintf("delivered contribution %s: %d requests, window %s (%s)", c.ID, c.All.Total, c.Window, out))
		}
		if err := sp.Remove(c); err != nil {
			return i, fmt.Errorf("fleet spool: delivered but not removed: %w", err) // a later run finds it a duplicate
		}
	}
	return len(spooled), nil
}
