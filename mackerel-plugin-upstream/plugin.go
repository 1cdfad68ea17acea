package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	mp "github.com/mackerelio/go-mackerel-plugin"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
)

// plugin holds the balancers, the values read (value mode) and what it
// takes to define the graphs.
type plugin struct {
	prefix    string
	balancers []balancer.Config
	values    map[string]float64
	stderr    io.Writer // meta mode's notes; os.Stderr when nil
}

func (p *plugin) MetricKeyPrefix() string { return p.prefix }

func (p *plugin) FetchMetrics() (map[string]float64, error) { return p.values, nil }

// GraphDefinition: per balancer, servers by state for each upstream (the
// upstream is the # part), and, only for a balancer that reports requests
// in flight, one line per upstream in the active graph: Mackerel would show
// an empty graph for the C module, which has no such count.
//
// go-mackerel-plugin also prints values through these definitions, so in
// value mode they follow the values read; in meta mode (values nil) every
// balancer is asked whether it reports in-flight counts (HAProxy always
// does; an nginx balancer is read once, and one that cannot be read gets no
// active graph, since the agent sends definitions only when it starts).
func (p *plugin) GraphDefinition() map[string]mp.Graphs {
	active := p.activeBalancers()
	graphs := map[string]mp.Graphs{}
	for _, c := range p.balancers {
		b := metricname.Sanitize(c.Name)
		graphs[b+".servers.#"] = mp.Graphs{
			Label: "Upstream servers: " + c.Name,
			Unit:  mp.UnitInteger,
			Metrics: []mp.Metrics{
				{Name: "up", Label: "Up", Stacked: true},
				{Name: "draining", Label: "Draining", Stacked: true},
				{Name: "down", Label: "Down", Stacked: true},
				{Name: "total", Label: "Total listed"},
			},
		}
		if active[c.Name] {
			graphs[b+".active"] = mp.Graphs{
				Label:   "Upstream requests in flight: " + c.Name,
				Unit:    mp.UnitInteger,
				Metrics: []mp.Metrics{{Name: "*", Label: "%1"}},
			}
		}
	}
	return graphs
}

// activeBalancers names the balancers that report requests in flight.
func (p *plugin) activeBalancers() map[string]bool {
	out := map[string]bool{}
	if p.values != nil {
		for _, c := range p.balancers {
			prefix := metricname.Sanitize(c.Name) + ".active."
			for k := range p.values {
				if strings.HasPrefix(k, prefix) {
					out[c.Name] = true
					break
				}
			}
		}
		return out
	}
	stderr := p.stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	// HAProxy always reports it; nginx tells in its listing (ReportsActive
	// keeps the answer), so every balancer is read once, at once.
	bals, snap := readBalancers(ctx, p.balancers, func(err error) {
		fmt.Fprintf(stderr, "%s: %v (no active graph for it)\n", binaryName, err)
	})
	for _, b := range bals {
		switch {
		case b.ReportsActive():
			out[b.Name()] = true
		case snap.Err(b.Name()) != nil:
			fmt.Fprintf(stderr, "%s: %v (no active graph for balancer %s: whether it reports requests in flight is unknown)\n", binaryName, snap.Err(b.Name()), b.Name())
		}
	}
	return out
}

// readBalancers builds the drivers and reads them all at once through
// lib/balancer's shared view. A config that cannot become a driver is passed
// to bad and left out (the options checked every config already).
func readBalancers(ctx context.Context, cfgs []balancer.Config, bad func(error)) ([]balancer.Balancer, balancer.Snapshot) {
	var bals []balancer.Balancer
	for _, c := range cfgs {
		b, err := balancer.New(c)
		if err != nil {
			bad(err)
			continue
		}
		bals = append(bals, b)
	}
	snap, _ := balancer.ReadAll(ctx, bals)
	return bals, snap
}

// collect reads every balancer at once. A balancer that cannot be read is
// left out (one line on stderr); read counts those that were read.
func collect(ctx context.Context, cfgs []balancer.Config, stderr io.Writer) (values map[string]float64, read int) {
	values = map[string]float64{}
	bals, snap := readBalancers(ctx, cfgs, func(err error) {
		fmt.Fprintf(stderr, "%s: %v (its metrics are left out)\n", binaryName, err)
	})
	cfgOf := map[string]balancer.Config{}
	for _, c := range cfgs {
		cfgOf[c.Name] = c // names are unique (options refuse a name used twice)
	}
	for _, b := range bals {
		if err := snap.Err(b.Name()); err != nil {
			fmt.Fprintf(stderr, "%s: %v (its metrics are left out)\n", binaryName, err)
			continue
		}
		read++
		addValues(values, cfgOf[b.Name()], snap.Servers(b.Name()), b.ReportsActive(), stderr)
	}
	return values, read
}

func addValues(values map[string]float64, c balancer.Config, servers []balancer.Server, active bool, stderr io.Writer) {
	b := metricname.Sanitize(c.Name)
	owner := map[string]string{} // sanitised upstream → its real name
	for _, up := range c.Upstreams {
		u := metricname.Sanitize(up)
		if other, dup := owner[u]; dup {
			fmt.Fprintf(stderr, "%s: balancer %s: upstreams %s and %s both become %q in metric names; %s is left out\n",
				binaryName, c.Name, other, up, u, up)
			continue
		}
		owner[u] = up
		counts := map[string]float64{"up": 0, "down": 0, "draining": 0, "total": 0}
		inFlight := 0
		for _, s := range servers {
			if s.Upstream != up {
				continue
			}
			counts["total"]++
			switch s.State {
			case balancer.Up:
				counts["up"]++
			case balancer.Draining:
				counts["draining"]++
			default:
				counts["down"]++
			}
			if s.Active > 0 {
				inFlight += s.Active
			}
		}
		for k, v := range counts {
			values[b+".servers."+u+"."+k] = v
		}
		if active {
			values[b+".active."+u] = float64(inFlight)
		}
	}
}
