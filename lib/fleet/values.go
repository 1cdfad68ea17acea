package fleet

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Frozen is a closed window's content. From the moment it is frozen no
// contribution changes it, so every aggregator computes the same values.
type Frozen struct {
	Window Window
	Hosts  map[string]int64 // contributions per host
	All    Counts
	Groups map[string]*Counts
	// Incomplete says contributions may be missing: the window began before
	// (or in the second) the service's data began in this Redis (Redis
	// restarted empty, or new).
	Incomplete bool
	// Moved counts the contributions that reached Redis after their own
	// window had closed and were counted here instead.
	Moved int64
	// OffClock are the hosts whose clock was off Redis's by more than the
	// grace when they delivered here: their offset in seconds (negative:
	// behind).
	OffClock map[string]int64
	// Errors are check-error-log's groups, by ErrorID (a window of
	// KindErrors).
	Errors map[string]*ErrorTotal
}

// Values are a frozen window's service metrics, named as
// mackerel-plugin-accesslog names its host metrics (without the prefix),
// plus fleet.hosts_count, fleet.contributions_count, fleet.incomplete,
// fleet.moved_contributions_count and fleet.offclock_hosts_count. Rates are per second
// of the window; times are in seconds. Of the groups, the maxGroups with the
// most requests are kept and the rest summed as "other".
func (f *Frozen) Values(maxGroups int) map[string]float64 {
	v := map[string]float64{}
	secs := float64(f.Window.Len)
	addCounts(v, "", &f.All, secs)
	v["bytes.sent"] = f.All.Bytes / secs
	var contributions int64
	for _, n := range f.Hosts {
		contributions += n
	}
	v["fleet.hosts_count"] = float64(len(f.Hosts))
	v["fleet.contributions_count"] = float64(contributions)
	v["fleet.incomplete"] = 0
	if f.Incomplete {
		v["fleet.incomplete"] = 1
	}
	v["fleet.moved_contributions_count"] = float64(f.Moved)
	v["fleet.offclock_hosts_count"] = float64(len(f.OffClock))
	for name, g := range topGroups(f.Groups, maxGroups) {
		addCounts(v, "group_", g, secs, name)
	}
	return v
}

// addCounts fills the counts, rates, shares and latencies of c; with a
// group name, under the group_ graphs with the name after the graph.
func addCounts(v map[string]float64, pre string, c *Counts, secs float64, group ...string) {
	key := func(graph, metric string) string {
		if len(group) > 0 {
			return pre + graph + "." + group[0] + "." + metric
		}
		return graph + "." + metric
	}
	v[key("access_num", "total_count")] = float64(c.Total)
	v[key("rps", "total")] = float64(c.Total) / secs
	for i, cl := range Classes {
		n := c.Class[i+1]
		v[key("access_num", cl+"_count")] = float64(n)
		v[key("rps", cl)] = float64(n) / secs
		v[key("access_rate", cl+"_percentage")] = ratio(n, c.Total)
	}
	for i, code := range TrackedCodes {
		name := strconv.Itoa(code)
		v[key("access_num", name+"_count")] = float64(c.Code[i])
		if len(group) > 0 {
			v[key("access_rate", name+"_percentage")] = ratio(c.Code[i], c.Total)
		} else {
			v["rps_code."+name] = float64(c.Code[i]) / secs
			v["access_rate_code."+name+"_percentage"] = ratio(c.Code[i], c.Total)
		}
	}
	addLatency(v, key("latency", ""), &c.ReqTime)
	addLatency(v, key("upstream_latency", ""), &c.Upstream)
}

// addLatency omits the graph when no line had a time: there is no latency
// of nothing (and NaN is no metric value).
func addLatency(v map[string]float64, key string, h *Histogram) {
	if h.N == 0 {
		return
	}
	key = strings.TrimSuffix(key, ".")
	v[key+".average"] = h.Mean() / 1e6
	for i, q := range h.Percentiles(Percentiles) {
		v[fmt.Sprintf("%s.%d_percentile", key, Percentiles[i])] = float64(q) / 1e6
	}
	v[key+".max"] = float64(h.Max) / 1e6
}

func ratio(n, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

// OtherGroup collects the groups beyond the busiest.
const OtherGroup = "other"

// topGroups keeps the max groups with the most requests (ties broken by
// name) and sums the rest into "other".
func topGroups(groups map[string]*Counts, max int) map[string]*Counts {
	names := make([]string, 0, len(groups))
	for n := range groups {
		if n != OtherGroup {
			names = append(names, n)
		}
	}
	if len(names) <= max {
		return groups
	}
	slices.SortFunc(names, func(a, b string) int {
		if ta, tb := groups[a].Total, groups[b].Total; ta != tb {
			if ta > tb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]*Counts, max+1)
	other := &Counts{}
	if o := groups[OtherGroup]; o != nil {
		other.Merge(o)
	}
	for i, n := range names {
		if i < max {
			out[n] = groups[n]
		} else {
			other.Merge(groups[n])
		}
	}
	out[OtherGroup] = other
	return out
}

// PasswordEnv is the environment variable the fleet's binaries read the
// Redis password from when no password file is given.
const PasswordEnv = "FLEET_REDIS_PASSWORD"
