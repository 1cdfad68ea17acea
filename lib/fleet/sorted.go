package fleet

import "fmt"

// sortedValues are a histogram's distinct values, ascending, and their
// counts: 16 bytes a value where a map takes several times that, and no
// sort when percentiles are asked.
type sortedValues struct {
	vals   []int64
	counts []uint64
}

// SetSorted makes h hold exactly vals (ascending and distinct) with their
// counts (each above 0), which h keeps without copying: the caller must not
// change them afterwards. It is how a window merged from many sorted
// contributions is read without building a map of every distinct value.
func (h *Histogram) SetSorted(vals []int64, counts []uint64) error {
	if len(vals) != len(counts) {
		return fmt.Errorf("histogram: %d values but %d counts", len(vals), len(counts))
	}
	*h = Histogram{}
	if len(vals) == 0 {
		return nil
	}
	var n uint64
	for i, v := range vals {
		if i > 0 && v <= vals[i-1] {
			return fmt.Errorf("histogram: value %d after %d: not ascending", v, vals[i-1])
		}
		if counts[i] == 0 {
			return fmt.Errorf("histogram: value %d counted 0 times", v)
		}
		if n+counts[i] < n {
			return fmt.Errorf("histogram: more than 2^64 values")
		}
		n += counts[i]
	}
	h.sorted = &sortedValues{vals: vals, counts: counts}
	h.N, h.Max = n, vals[len(vals)-1]
	return nil
}

// Distinct is the number of distinct values.
func (h *Histogram) Distinct() int {
	if h.sorted != nil {
		return len(h.sorted.vals)
	}
	return len(h.Counts)
}

// unsort moves the sorted form into Counts, before a value is added.
func (h *Histogram) unsort() {
	if h.sorted == nil {
		return
	}
	s := h.sorted
	h.sorted = nil
	h.Counts = make(map[int64]uint64, len(s.vals))
	for i, v := range s.vals {
		h.Counts[v] = s.counts[i]
	}
}
