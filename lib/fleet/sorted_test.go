package fleet

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortedMatchesMap: a histogram in the sorted form gives the same n,
// max, mean, percentiles and JSON as the same values in a map, and stays
// right when merged into another or added to.
func TestSortedMatchesMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	m := &Histogram{}
	for range 5000 {
		m.AddN(r.Int64N(100_000)-50, 1+r.Uint64N(3))
	}
	vals, counts := m.Ascending()
	var s Histogram
	if err := s.SetSorted(slices.Clone(vals), slices.Clone(counts)); err != nil {
		t.Fatal(err)
	}
	if s.N != m.N || s.Max != m.Max || s.Mean() != m.Mean() || !slices.Equal(s.Percentiles(Percentiles), m.Percentiles(Percentiles)) || s.Distinct() != len(m.Counts) {
		t.Fatalf("sorted %d %d %v %v, map %d %d %v %v", s.N, s.Max, s.Mean(), s.Percentiles(Percentiles), m.N, m.Max, m.Mean(), m.Percentiles(Percentiles))
	}
	var back Histogram
	if b, err := json.Marshal(s); err != nil || json.Unmarshal(b, &back) != nil || back.N != m.N || len(back.Counts) != len(m.Counts) {
		t.Fatalf("JSON of the sorted form: %v, read back n=%d", err, back.N)
	}
	var merged Histogram
	merged.Merge(&s)
	merged.Merge(m)
	s.Add(-1_000_000)
	if merged.N != 2*m.N || merged.Counts[vals[0]] != 2*counts[0] || s.N != m.N+1 || s.Counts[-1_000_000] != 1 || s.Percentiles([]int{0})[0] != -1_000_000 {
		t.Fatalf("merged n=%d, added-to n=%d", merged.N, s.N)
	}
}

func TestSetSortedRefuses(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		vals   []int64
		counts []uint64
	}{
		"lengths":       {[]int64{1}, nil},
		"not ascending": {[]int64{2, 1}, []uint64{1, 1}},
		"repeated":      {[]int64{1, 1}, []uint64{1, 1}},
		"zero count":    {[]int64{1}, []uint64{0}},
		"overflow":      {[]int64{1, 2}, []uint64{1 << 63, 1 << 63}},
	} {
		var h Histogram
		if err := h.SetSorted(c.vals, c.counts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
