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

func (a *aggregator) run(ctx context.Context, now time.Time) error {
	windows, err := a.store.Closed(ctx, now.Add(-a.opts.Grace.D()), a.opts.MaxWindows)
	if err != nil {
		return err
	}
	a.warnMixedLengths(windows)
	for _, w := range windows {
		f, err := a.store.Freeze(ctx, w)
		switch {
		case errors.Is(err, redisstore.ErrPosted) || errors.Is(err, redisstore.ErrGone):
			// Another aggregator handed it over, or it expired: only the index entry is left.
			if err := a.store.Forget(ctx, w); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		ms := a.metrics(f)
		if err := a.handOver(ctx, f, ms); err != nil {
			return fmt.Errorf("window %s: %w (kept for the next run)", describe(w), err)
		}
		if err := a.store.MarkPosted(ctx, w, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

func (a *aggregator) handOver(ctx context.Context, f *fleet.Frozen, ms []metric) error {
	if a.poster != nil {
		if err := a.poster.post(ctx, a.opts.Service, ms); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "posted %s: %d metrics from %d hosts to service %s\n", describe(f.Window), len(ms), len(f.Hosts), a.opts.Service)
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
		fmt.Fprintf(a.stderr, "%s: service %s has windows of %s: every host must use the same --fleet-window, or its lines are posted in overlapping windows\n",
			binaryName, a.opts.Service, strings.Join(ls, " and "))
	}
}
