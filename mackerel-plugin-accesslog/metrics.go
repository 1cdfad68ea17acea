package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/metricname"
)

// Percentiles reported for request and upstream time.
var percentiles = []int{50, 90, 95, 98, 99}

var classes = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// plugin is what meta mode prints: the graph definitions (outputDefinitions).
// Values are printed by writeValues.
type plugin struct {
	prefix  string
	grouped bool
	fleet   bool // --fleet-redis: the fleet.* graph too
}

// writeValues prints values as mackerel-agent reads them, one
// "prefix.name<TAB>value<TAB>epoch" line each, sorted, in one write (not one
// per metric). Whole numbers are printed as integers while a float64 holds
// them exactly; go-mackerel-plugin's printer converts through int, which
// turns a value past 2^63 negative.
func writeValues(w io.Writer, prefix string, values map[string]float64, now time.Time) error {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		v := values[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue // never produced; mackerel-agent would drop the whole run
		}
		b = append(b, prefix...)
		b = append(b, '.')
		b = append(b, k...)
		b = append(b, '\t')
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			b = strconv.AppendInt(b, int64(v), 10)
		} else {
			b = strconv.AppendFloat(b, v, 'f', 6, 64)
		}
		b = append(b, '\t')
		b = strconv.AppendInt(b, now.Unix(), 10)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

func metricsOf(names []string, suffix string, stacked bool) []metricDef {
	out := make([]metricDef, len(names))
	for i, n := range names {
		out[i] = metricDef{Name: n + suffix, Label: n, Stacked: stacked}
	}
	return out
}

func codeNames() []string {
	out := make([]string, len(trackedCodes))
	for i, c := range trackedCodes {
		out[i] = strconv.Itoa(c)
	}
	return out
}

func latencyMetrics() []metricDef {
	ms := []metricDef{{Name: "average", Label: "average"}}
	for _, p := range percentiles {
		ms = append(ms, metricDef{Name: fmt.Sprintf("%d_percentile", p), Label: fmt.Sprintf("p%d", p)})
	}
	return append(ms, metricDef{Name: "max", Label: "max"})
}

// graphs declares every graph (meta mode); the names are documented in
// README.md.
func (p *plugin) graphs() map[string]graphDef {
	countMetrics := append([]metricDef{{Name: "total_count", Label: "total"}}, metricsOf(classes, "_count", true)...)
	codeCounts := metricsOf(codeNames(), "_count", false)
	g := map[string]graphDef{
		"access_num":       {Label: "Requests per run (exact count)", Unit: unitInteger, Metrics: append(countMetrics, codeCounts...)},
		"rps":              {Label: "Requests per second", Unit: unitFloat, Metrics: append([]metricDef{{Name: "total", Label: "total"}}, metricsOf(classes, "", true)...)},
		"rps_code":         {Label: "Requests per second by status code", Unit: unitFloat, Metrics: metricsOf(codeNames(), "", false)},
		"access_rate":      {Label: "Share of requests by status class", Unit: unitPercentage, Metrics: metricsOf(classes, "_percentage", true)},
		"access_rate_code": {Label: "Share of requests by status code", Unit: unitPercentage, Metrics: metricsOf(codeNames(), "_percentage", false)},
		"latency":          {Label: "Request time", Unit: unitSeconds, Metrics: latencyMetrics()},
		"upstream_latency": {Label: "Upstream response time", Unit: unitSeconds, Metrics: latencyMetrics()},
		"bytes":            {Label: "Bytes sent", Unit: unitBytesPerSecond, Metrics: []metricDef{{Name: "sent", Label: "sent"}}},
		"lines":            {Label: "Lines not counted", Unit: unitInteger, Metrics: []metricDef{{Name: "malformed_count", Label: "malformed"}, {Name: "overlong_count", Label: "overlong"}}},
		"skipped":          {Label: "Backlog skipped", Unit: unitBytes, Metrics: []metricDef{{Name: "bytes", Label: "bytes"}}},
		"files":            {Label: "Files not read", Unit: unitInteger, Metrics: []metricDef{{Name: "skipped_count", Label: "not regular files"}}},
	}
	if p.grouped {
		g["group_access_num.#"] = graphDef{Label: "Requests per run by group", Unit: unitInteger, Metrics: append(append([]metricDef{{Name: "total_count", Label: "total"}}, metricsOf(classes, "_count", false)...), codeCounts...)}
		g["group_rps.#"] = graphDef{Label: "Requests per second by group", Unit: unitFloat, Metrics: append([]metricDef{{Name: "total", Label: "total"}}, metricsOf(classes, "", false)...)}
		g["group_access_rate.#"] = graphDef{Label: "Share of requests by group and status class", Unit: unitPercentage, Metrics: metricsOf(append(append([]string{}, classes...), codeNames()...), "_percentage", false)}
		g["group_latency.#"] = graphDef{Label: "Request time by group", Unit: unitSeconds, Metrics: latencyMetrics()}
		g["group_upstream_latency.#"] = graphDef{Label: "Upstream response time by group", Unit: unitSeconds, Metrics: latencyMetrics()}
	}
	if p.fleet {
		g["fleet"] = graphDef{Label: "Fleet contributions to Redis", Unit: unitInteger, Metrics: []metricDef{
			{Name: "delivered_count", Label: "delivered this run"},
			{Name: "pending_count", Label: "pending (spooled)"},
			{Name: "pending_requests", Label: "requests pending"},
			{Name: "dropped_count", Label: "dropped (spool full)"},
		}}
	}
	// Titles name the prefix: several entries (one per site) would otherwise
	// give graphs that all read "Request time".
	for k, gr := range g {
		gr.Label = p.prefix + ": " + gr.Label
		g[k] = gr
	}
	return g
}

// values turns a run's result into metric values (keys without the prefix).
func values(res *result, maxGroups int) map[string]float64 {
	v := map[string]float64{}
	secs := res.elapsed.Seconds()
	st := &res.stats
	addCounts(v, "access_num", "rps", "access_rate", "latency", "upstream_latency", &st.all, secs)
	for i, c := range trackedCodes {
		name := strconv.Itoa(c)
		v["rps_code."+name] = rate(st.all.code[i], secs)
		v["access_rate_code."+name+"_percentage"] = ratio(st.all.code[i], st.all.total)
		v["access_num."+name+"_count"] = float64(st.all.code[i])
	}
	v["bytes.sent"] = 0
	if secs > 0 {
		v["bytes.sent"] = st.all.bytes.float() / secs
	}
	v["lines.malformed_count"] = float64(st.malformed)
	v["lines.overlong_count"] = float64(st.overlong)
	v["skipped.bytes"] = float64(res.skippedBytes)
	v["files.skipped_count"] = float64(res.skippedFiles)

	if len(st.groups) > 0 {
		byName := map[string]*counts{}
		for raw, g := range st.groups {
			name := metricname.Sanitize(raw)
			if byName[name] == nil {
				byName[name] = &counts{}
			}
			byName[name].merge(g)
		}
		grouped := stats{groups: byName}
		grouped.topGroups(maxGroups)
		for name, g := range grouped.groups {
			addCounts(v, "group_access_num."+name, "group_rps."+name, "group_access_rate."+name,
				"group_latency."+name, "group_upstream_latency."+name, g, secs)
			for i, c := range trackedCodes {
				v["group_access_num."+name+"."+strconv.Itoa(c)+"_count"] = float64(g.code[i])
				v["group_access_rate."+name+"."+strconv.Itoa(c)+"_percentage"] = ratio(g.code[i], g.total)
			}
		}
	}
	if !res.firstRun && secs <= 0 {
		// The interval is unknown (the clock went back): a rate of 0 would
		// be false, so there is none.
		for k := range v {
			if strings.HasPrefix(k, "rps") || strings.HasPrefix(k, "group_rps.") || k == "bytes.sent" {
				delete(v, k)
			}
		}
	}
	return v
}

func addCounts(v map[string]float64, num, rps, share, lat, upLat string, c *counts, secs float64) {
	v[num+".total_count"] = float64(c.total)
	v[rps+".total"] = rate(c.total, secs)
	for i, cl := range classes {
		n := c.class[i+1]
		v[num+"."+cl+"_count"] = float64(n)
		v[rps+"."+cl] = rate(n, secs)
		v[share+"."+cl+"_percentage"] = ratio(n, c.total)
	}
	addLatency(v, lat, &c.reqTime)
	addLatency(v, upLat, &c.upstream)
}

// addLatency omits the graph when no line had a time: there is no latency
// of nothing, and NaN would make mackerel-agent drop the whole run.
func addLatency(v map[string]float64, key string, h *histogram) {
	if h.n == 0 {
		return
	}
	v[key+".average"] = h.sum.float() / float64(h.n) / 1e6
	for i, q := range h.percentiles(percentiles) {
		v[fmt.Sprintf("%s.%d_percentile", key, percentiles[i])] = float64(q) / 1e6
	}
	v[key+".max"] = float64(h.max) / 1e6
}

func rate(n uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(n) / secs
}

func ratio(n, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}
