package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

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
	errs := make([]error, len(p.balancers))
	reports := make([]bool, len(p.balancers))
	var wg sync.WaitGroup
	for i, c := range p.balancers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := balancer.New(c)
			if err != nil {
				errs[i] = err
				return
			}
			// HAProxy always reports it; nginx tells in its listing, read
			// here within the run's deadline (ReportsActive keeps the answer).
			if c.Driver == balancer.DriverNginx {
				if _, err := b.List(ctx); err != nil {
					errs[i] = err
					return
				}
			}
			reports[i] = b.ReportsActive()
		}()
	}
	wg.Wait()
	for i, c := range p.balancers {
		switch {
		case errs[i] != nil:
			fmt.Fprintf(stderr, "%s: %v (no active graph for balancer %s: whether it reports requests in flight is unknown)\n", binaryName, errs[i], c.Name)
		case reports[i]:
			out[c.Name] = true
		}
	}
	return out
}

// collect reads every balancer at once. A balancer that cannot be read is
// left out (one line on stderr); read counts those that were read.
func collect(ctx context.Context, cfgs []balancer.Config, stderr io.Writer) (values map[string]float64, read int) {
	type result struct {
		servers []balancer.Server
		active  bool
		err     error
	}
	results := make([]result, len(cfgs))
	var wg sync.WaitGroup
	for i, c := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := balancer.New(c)
			if err != nil {
				results[i].err = err
				return
			}
			results[i].servers, results[i].err = b.List(ctx)
			if results[i].err == nil {
				results[i].active = b.ReportsActive()
			}
		}()
	}
	wg.Wait()

	values = map[string]float64{}
	for i, c := range cfgs {
		r := results[i]
		if r.err != nil {
			fmt.Fprintf(stderr, "%s: %v (its metrics are left out)\n", binaryName, r.err)
			continue
		}
		read++
		addValues(values, c, r.servers, r.active, stderr)
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
