package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Histogram counts each value (whole microseconds) once per occurrence, as
// mackerel-plugin-accesslog's run histogram does: memory grows with the
// number of distinct values, and merging two histograms loses nothing, so
// percentiles over a fleet are as exact as over one host. It keeps no sum:
// an int64 sum of bogus times (up to 2^50 µs a line) overflows after 8,192
// lines, and the mean is computed from the counts (Mean).
type Histogram struct {
	Counts map[int64]uint64 `json:"counts,omitempty"`
	N      uint64           `json:"n"`
	Max    int64            `json:"max"`

	// sorted, when not nil, holds the values instead of Counts (which is
	// then nil): ascending, distinct, each with a count above 0. A window
	// merged from a fleet is read in this form (SetSorted).
	sorted *sortedValues
}

// Add counts one value.
func (h *Histogram) Add(v int64) { h.AddN(v, 1) }

// AddN counts value v c times.
func (h *Histogram) AddN(v int64, c uint64) {
	if c == 0 {
		return
	}
	h.unsort()
	if h.Counts == nil {
		h.Counts = map[int64]uint64{}
	}
	h.Counts[v] += c
	if h.N == 0 || v > h.Max {
		h.Max = v
	}
	h.N += c
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.sorted != nil {
		for i, v := range o.sorted.vals {
			h.AddN(v, o.sorted.counts[i])
		}
		return
	}
	for v, c := range o.Counts {
		h.AddN(v, c)
	}
}

// Ascending returns the distinct values, ascending, and their counts (shared
// with h when it is in the sorted form: not to be changed).
func (h *Histogram) Ascending() (vals []int64, counts []uint64) {
	if h.sorted != nil {
		return h.sorted.vals, h.sorted.counts
	}
	vals = make([]int64, 0, len(h.Counts))
	for v := range h.Counts {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	counts = make([]uint64, len(vals))
	for i, v := range vals {
		counts[i] = h.Counts[v]
	}
	return vals, counts
}

// Mean is the mean of the values, in floating point (it cannot overflow),
// summed in ascending order so that every aggregator computes the same bits.
// It needs at least one value.
func (h *Histogram) Mean() float64 {
	var sum float64
	vals, counts := h.Ascending()
	for i, v := range vals {
		sum += float64(v) * float64(counts[i])
	}
	return sum / float64(h.N)
}

// Percentiles returns, for each p (in percent, ascending), the nearest-rank
// percentile: the smallest value v such that at least p% of the values are
// <= v. It needs at least one value.
func (h *Histogram) Percentiles(ps []int) []int64 {
	vals, counts := h.Ascending()
	out := make([]int64, len(ps))
	var cum uint64
	i := 0
	for k, v := range vals {
		cum += counts[k]
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

// histogramJSON is a Histogram on disk: the counts as a flat array
// [value, count, value, count, ...], cheaper to write and read than an
// object keyed by strings. A "sum" written by earlier versions is ignored.
type histogramJSON struct {
	Counts []int64 `json:"counts,omitempty"`
	N      uint64  `json:"n"`
	Max    int64   `json:"max"`
}

// MarshalJSON writes the flat form.
func (h Histogram) MarshalJSON() ([]byte, error) {
	h.unsort()
	b := make([]byte, 0, 64+len(h.Counts)*12)
	b = append(b, `{"n":`...)
	b = strconv.AppendUint(b, h.N, 10)
	b = append(b, `,"max":`...)
	b = strconv.AppendInt(b, h.Max, 10)
	b = append(b, `,"counts":[`...)
	first := true
	for v, c := range h.Counts {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ',')
		b = strconv.AppendUint(b, c, 10)
	}
	return append(b, "]}"...), nil
}

// UnmarshalJSON reads the flat form and checks it against n and max.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histogramJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if len(j.Counts)%2 != 0 {
		return fmt.Errorf("histogram counts: odd length %d", len(j.Counts))
	}
	*h = Histogram{}
	for i := 0; i < len(j.Counts); i += 2 {
		if j.Counts[i+1] < 0 {
			return fmt.Errorf("histogram: negative count %d", j.Counts[i+1])
		}
		h.AddN(j.Counts[i], uint64(j.Counts[i+1]))
	}
	if h.N != j.N || (h.N > 0 && h.Max != j.Max) {
		return fmt.Errorf("histogram: counts give n=%d max=%d, declared n=%d max=%d", h.N, h.Max, j.N, j.Max)
	}
	return nil
}
