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

// histogramJSON is a Histogram on disk: the counts as a flat array
// [value, count, value, count, ...], cheaper to write and read than an
// object keyed by strings.
type histogramJSON struct {
	Counts []int64 `json:"counts,omitempty"`
	N      uint64  `json:"n"`
	Sum    int64   `json:"sum"`
	Max    int64   `json:"max"`
}

// MarshalJSON writes the flat form.
func (h Histogram) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64+len(h.Counts)*12)
	b = append(b, `{"n":`...)
	b = strconv.AppendUint(b, h.N, 10)
	b = append(b, `,"sum":`...)
	b = strconv.AppendInt(b, h.Sum, 10)
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

// UnmarshalJSON reads the flat form and checks it against n, sum and max.
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
	if h.N != j.N || h.Sum != j.Sum || (h.N > 0 && h.Max != j.Max) {
		return fmt.Errorf("histogram: counts give n=%d sum=%d max=%d, declared n=%d sum=%d max=%d", h.N, h.Sum, h.Max, j.N, j.Sum, j.Max)
	}
	return nil
}
