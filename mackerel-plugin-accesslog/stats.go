package main

import (
	"math/bits"
	"slices"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// sum adds non-negative values exactly in 128 bits: request times up to
// maxTimeUS and byte counts up to 10^18 a line would overflow an int64 after
// a few thousand lines.
type sum struct{ hi, lo uint64 }

func (s *sum) add(v int64) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, uint64(v), 0)
	s.hi += carry
}

func (s *sum) merge(o sum) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, o.lo, 0)
	s.hi += o.hi + carry
}

func (s sum) float() float64 { return float64(s.hi)*(1<<64) + float64(s.lo) }

// histogram counts occurrences of each value (whole microseconds), so that
// memory grows with the number of distinct values, not of lines, and
// percentiles are exact.
type histogram struct {
	counts map[int64]uint64
	// dense counts whole milliseconds below denseLimit (what nginx's
	// $request_time writes) without a map lookup: the hot path of the run's
	// overall histograms, allocated at the first value, so that a run with
	// nothing new does not pay for it. Groups keep the map only.
	dense    []uint64
	useDense bool
	n        uint64
	sum      sum
	max      int64
}

// denseLimit covers requests under 10 s in 80 KB: a per-minute run touches
// little memory, and slower requests are rare enough for the map.
const denseLimit = 10_000 // ms

func newDenseHistogram() histogram { return histogram{useDense: true} }

func (h *histogram) add(v int64) {
	if h.dense == nil && h.useDense {
		h.dense = make([]uint64, denseLimit)
	}
	if h.dense != nil && v >= 0 && v < denseLimit*1000 && v%1000 == 0 {
		h.dense[v/1000]++
	} else {
		if h.counts == nil {
			h.counts = make(map[int64]uint64, 256)
		}
		h.counts[v]++
	}
	h.n++
	h.sum.add(v)
	if v > h.max || h.n == 1 {
		h.max = v
	}
}

// fold moves the dense counts into the map.
func (h *histogram) fold() {
	if h.dense == nil {
		return
	}
	for i, c := range h.dense {
		if c == 0 {
			continue
		}
		if h.counts == nil {
			h.counts = make(map[int64]uint64, 256)
		}
		h.counts[int64(i)*1000] += c
	}
	h.dense, h.useDense = nil, false
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	o.fold()
	if h.counts == nil {
		h.counts = make(map[int64]uint64, len(o.counts))
	}
	for v, c := range o.counts {
		h.counts[v] += c
	}
	if h.n == 0 || o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum.merge(o.sum)
}

// percentiles returns, for each p (in percent, ascending), the nearest-rank
// percentile: lib/fleet's, so that host and service figures are computed
// alike. It needs at least one value.
func (h *histogram) percentiles(ps []int) []int64 {
	h.fold()
	return (&fleet.Histogram{Counts: h.counts, N: h.n}).Percentiles(ps)
}

// The status codes counted one by one, besides their class.
var trackedCodes = [...]int{499, 500, 502, 503, 504}

func codeIndex(status int) int {
	switch status {
	case 499:
		return 0
	case 500:
		return 1
	case 502:
		return 2
	case 503:
		return 3
	case 504:
		return 4
	}
	return -1
}

// counts is everything counted for one set of lines (all, or one group).
type counts struct {
	total    uint64
	class    [6]uint64 // [1]..[5]: 1xx..5xx
	code     [len(trackedCodes)]uint64
	bytes    sum
	reqTime  histogram
	upstream histogram
}

func (c *counts) add(r *Record) {
	c.total++
	c.class[r.Status/100]++
	if i := codeIndex(r.Status); i >= 0 {
		c.code[i]++
	}
	if r.HasBytesSent {
		c.bytes.add(r.BytesSent)
	}
	if r.HasReqTime {
		c.reqTime.add(r.ReqTimeUS)
	}
	if r.HasUpstreamTime {
		c.upstream.add(r.UpstreamTimeUS)
	}
}

func (c *counts) merge(o *counts) {
	c.total += o.total
	for i := range c.class {
		c.class[i] += o.class[i]
	}
	for i := range c.code {
		c.code[i] += o.code[i]
	}
	c.bytes.merge(o.bytes)
	c.reqTime.merge(&o.reqTime)
	c.upstream.merge(&o.upstream)
}

// stats is one worker's (or, merged, the run's) result.
type stats struct {
	all       counts
	groups    map[string]*counts
	malformed uint64
	overlong  uint64
}

func (s *stats) merge(o *stats) {
	s.all.merge(&o.all)
	s.malformed += o.malformed
	s.overlong += o.overlong
	for name, g := range o.groups {
		s.group(name).merge(g)
	}
}

func (s *stats) group(name string) *counts {
	if s.groups == nil {
		s.groups = map[string]*counts{}
	}
	g := s.groups[name]
	if g == nil {
		g = &counts{}
		s.groups[name] = g
	}
	return g
}

// topGroups keeps the max groups with the most requests and folds the rest
// into "other", which comes on top of them (ties broken by name, so the
// choice is stable).
func (s *stats) topGroups(max int) {
	if len(s.groups)-boolInt(s.groups[otherGroup] != nil) <= max {
		return
	}
	names := make([]string, 0, len(s.groups))
	for n := range s.groups {
		if n != otherGroup {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		ta, tb := s.groups[a].total, s.groups[b].total
		if ta != tb {
			if ta > tb {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		return 1
	})
	keep := min(max, len(names))
	for _, n := range names[keep:] {
		s.group(otherGroup).merge(s.groups[n])
		delete(s.groups, n)
	}
}

const otherGroup = "other"

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
