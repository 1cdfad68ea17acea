package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// aggregator hands over each closed window once: freeze it (no contribution
// changes it after that, so every aggregator reads the same values), print
// or post its metrics, then mark it posted and take it off the index.
type aggregator struct {
	opts   *options
	store  *redisstore.Store
	poster *poster // nil: print for mkr throw
	stdout io.Writer
	stderr io.Writer
}

func newAggregator(opts *options, stdout, stderr io.Writer) (*aggregator, error) {
	if opts.StateDir == "" {
		opts.StateDir = state.Dir()
	}
	st, err := redisstore.Open(redisstore.Config{URL: opts.Redis, PasswordFile: opts.RedisPasswordFile, CAFile: opts.RedisCAFile, Cluster: opts.RedisCluster, Timeout: opts.RedisTimeout.D()}, opts.Service)
	if err != nil {
		return nil, err
	}
	a := &aggregator{opts: opts, store: st, stdout: stdout, stderr: stderr}
	if opts.Post {
		if a.poster, err = newPoster(opts); err != nil {
			st.Close()
			return nil, err
		}
	}
	return a, nil
}

func (a *aggregator) close() { a.store.Close() }

// metric is one service metric value.
type metric struct {
	Name  string  `json:"name"`
	Time  int64   `json:"time"`
	Value float64 `json:"value"`
}

// metrics are a frozen window's values with the prefix, sorted by name,
// stamped with the window's start.
func (a *aggregator) metrics(f *fleet.Frozen) []metric {
	vals := f.Values(a.opts.MaxGroups)
	out := make([]metric, 0, len(vals))
	for name, v := range vals {
		out = append(out, metric{Name: a.opts.Prefix + "." + name, Time: f.Window.Start, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// run hands over every closed window. Windows are closed by Redis's clock
// (its end + --grace), the one the hosts' deliveries are judged by.
func (a *aggregator) run(ctx context.Context) error {
	b, err := a.store.Begin(ctx, a.opts.Grace.D())
	if err != nil {
		return err
	}
	led, err := loadLedger(a.opts.StateDir, a.opts.Service, a.opts.Redis)
	if led == nil {
		return err
	}
	if err != nil {
		a.warn("%v", err)
	}
	if led.Gen != 0 && led.Gen != b.Gen.Unix() {
		a.warn("Redis lost service %s's data: it begins there at %s, later than this aggregator saw it last (Redis restarted without persistence, or flushed?): the windows begun before are posted with fleet.incomplete 1",
			a.opts.Service, utc(b.Gen))
	}
	windows, err := a.store.Closed(ctx, b.Now.Add(-a.opts.Grace.D()), a.opts.MaxWindows)
	if err != nil {
		return err
	}
	a.warnMixedLengths(windows)
	for _, w := range windows {
		if err := a.window(ctx, w, b, led); err != nil {
			return err
		}
	}
	led.Gen = b.Gen.Unix()
	return led.save(b.Now.Unix())
}

// window hands over one closed window, once: never a second time with other
// values (the ledger), and a window that may miss contributions is said to.
func (a *aggregator) window(ctx context.Context, w fleet.Window, b redisstore.Begin, led *ledger) error {
	f, err := a.store.Freeze(ctx, w)
	switch {
	case errors.Is(err, redisstore.ErrPosted) || errors.Is(err, redisstore.ErrGone):
		// Another aggregator handed it over, or it expired: only the index entry is left.
		return a.store.Forget(ctx, w)
	case err != nil:
		return err
	}
	f.Incomplete = w.Start <= b.Gen.Unix() // gen is in whole seconds
	ms := a.metrics(f)
	entry := ledgerEntry{Sum: checksum(ms), Requests: f.All.Total, Hosts: len(f.Hosts), At: b.Now.Unix()}
	if prev, ok := led.Posted[w.String()]; ok {
		if prev.Sum != entry.Sum {
			a.warn("window %s: handed over at %s with %d requests from %d hosts; Redis now holds %d requests from %d hosts for it (it lost data, or got old data back): not handed over again",
				describe(w), utc(time.Unix(prev.At, 0)), prev.Requests, prev.Hosts, entry.Requests, entry.Hosts)
		}
		return a.store.MarkPosted(ctx, w, b.Now)
	}
	a.warnWindow(f, b)
	if err := a.handOver(ctx, f, ms); err != nil {
		return fmt.Errorf("window %s: %w (kept for the next run)", describe(w), err)
	}
	if err := led.record(w, entry, b.Now.Unix()); err != nil {
		return err
	}
	return a.store.MarkPosted(ctx, w, b.Now)
}

// warnWindow says, in one line each, that a window may miss contributions
// and which hosts' clocks are off.
func (a *aggregator) warnWindow(f *fleet.Frozen, b redisstore.Begin) {
	if f.Incomplete {
		a.warn("window %s: incomplete (fleet.incomplete 1): it began before service %s's data began in this Redis at %s (Redis restarted empty, or new): contributions delivered before are missing",
			describe(f.Window), a.opts.Service, utc(b.Gen))
	}
	if len(f.OffClock) > 0 {
		hosts := make([]string, 0, len(f.OffClock))
		for h := range f.OffClock {
			hosts = append(hosts, h)
		}
		sort.Strings(hosts)
		var named []string
		for i, h := range hosts {
			if i == 10 {
				named = append(named, fmt.Sprintf("and %d more", len(hosts)-10))
				break
			}
			named = append(named, fmt.Sprintf("%s (%+d s)", h, f.OffClock[h]))
		}
		a.warn("window %s: clock off Redis's by more than --grace %s on %s: their lines are counted in the window open when they arrived (fleet.offclock_hosts_count); set their clocks right (NTP)",
			describe(f.Window), a.opts.Grace, strings.Join(named, ", "))
	}
}

func (a *aggregator) warn(format string, args ...any) {
	fmt.Fprintf(a.stderr, "%s: %s\n", binaryName, fmt.Sprintf(format, args...))
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (a *aggregator) handOver(ctx context.Context, f *fleet.Frozen, ms []metric) error {
	if a.poster != nil {
		if err := a.poster.post(ctx, a.opts.Service, ms); err != nil {
			return err
		}
		if a.opts.Verbose {
			fmt.Fprintf(a.stdout, "posted %s: %d metrics from %d hosts to service %s\n", describe(f.Window), len(ms), len(f.Hosts), a.opts.Service)
		}
		return nil
	}
	w := bufio.NewWriter(a.stdout)
	for _, m := range ms {
		fmt.Fprintf(w, "%s\t%s\t%d\n", m.Name, strconv.FormatFloat(m.Value, 'f', -1, 64), m.Time)
	}
	return w.Flush()
}

// describe names a window for people: its start in UTC and its length.
func describe(w fleet.Window) string {
	return fmt.Sprintf("%s (%d s)", time.Unix(w.Start, 0).UTC().Format(time.RFC3339), w.Len)
}

// warnMixedLengths says when hosts of the service use different
// --fleet-window lengths: their windows overlap, and each is posted alone.
func (a *aggregator) warnMixedLengths(windows []fleet.Window) {
	lengths := map[int64]bool{}
	for _, w := range windows {
		lengths[w.Len] = true
	}
	if len(lengths) > 1 {
		var ls []string
		for l := range lengths {
			ls = append(ls, strconv.FormatInt(l, 10)+" s")
		}
		sort.Strings(ls)
		a.warn("service %s has windows of %s: every host must use the same --fleet-window, or its lines are posted in overlapping windows",
			a.opts.Service, strings.Join(ls, " and "))
	}
}
