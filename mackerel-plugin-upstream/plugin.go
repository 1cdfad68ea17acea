package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	mp "github.com/mackerelio/go-mackerel-plugin"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
)

// plugin holds the graph definitions (one set per balancer, known from the
// configuration alone, so meta mode contacts nothing) and the values read.
type plugin struct {
	prefix    string
	balancers []balancer.Config
	values    map[string]float64
}

func (p *plugin) MetricKeyPrefix() string { return p.prefix }

func (p *plugin) FetchMetrics() (map[string]float64, error) { return p.values, nil }

// GraphDefinition: per balancer, servers by state for each upstream (the
// upstream is the # part), and requests in flight with one line per upstream.
func (p *plugin) GraphDefinition() map[string]mp.Graphs {
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
				{Name: "total", Label: "Total"},
			},
		}
		graphs[b+".active"] = mp.Graphs{
			Label:   "Upstream requests in flight: " + c.Name,
			Unit:    mp.UnitInteger,
			Metrics: []mp.Metrics{{Name: "*", Label: "%1"}},
		}
	}
	return graphs
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
