package fleet

import "slices"

// Histogram counts each value (whole microseconds) once per occurrence, as
// mackerel-plugin-accesslog's run histogram does: memory grows with the
// number of distinct values, and merging two histograms loses nothing, so
// percentiles over a fleet are as exact as over one host.
type Histogram struct {
	Counts map[int64]uint64 `json:"counts,omitempty"`
	N      uint64           `json:"n"`
	Sum    int64            `json:"sum"`
	Max    int64            `json:"max"`
}

// Add counts one value.
func (h *Histogram) Add(v int64) { h.AddN(v, 1) }

// AddN counts value v c times.
func (h *Histogram) AddN(v int64, c uint64) {
	if c == 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = map[int64]uint64{}
	}
	h.Counts[v] += c
	if h.N == 0 || v > h.Max {
		h.Max = v
	}
	h.N += c
	h.Sum += v * int64(c)
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	for v, c := range o.Counts {
		h.AddN(v, c)
	}
}

// Percentiles returns, for each p (in percent, ascending), the nearest-rank
// percentile: the smallest value v such that at least p% of the values are
// <= v. It needs at least one value.
func (h *Histogram) Percentiles(ps []int) []int64 {
	keys := make([]int64, 0, len(h.Counts))
	for v := range h.Counts {
		keys = append(keys, v)
	}
	slices.Sort(keys)
	out := make([]int64, len(ps))
	var cum uint64
	i := 0
	for _, v := range keys {
		cum += h.Counts[v]
		for i < len(ps) && cum >= Rank(ps[i], h.N) {
			out[i] = v
			i++
		}
		if i == len(ps) {
			break
		}
	}
	return out
}

// Rank is the 1-based nearest rank of percentile p among n values: ceil(p*n/100).
func Rank(p int, n uint64) uint64 {
	r := (uint64(p)*n + 99) / 100
	if r == 0 {
		r = 1
	}
	return r
}
