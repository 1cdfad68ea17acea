package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// bruteForce is the nearest-rank definition applied to the sorted values.
func bruteForce(vals []int64, p int) int64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	for _, v := range s {
		n := 0
		for _, w := range s {
			if w <= v {
				n++
			}
		}
		if n*100 >= p*len(s) {
			return v
		}
	}
	return s[len(s)-1]
}

func TestPercentilesMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ps := []int{1, 50, 90, 95, 98, 99, 100}
	for trial := 0; trial < 300; trial++ {
		n := 1 + rng.IntN(400)
		spread := int64(1 + rng.IntN(5000))
		h := histogram{}
		if trial%2 == 0 {
			h = newDenseHistogram()
		}
		vals := make([]int64, n)
		for i := range vals {
			vals[i] = rng.Int64N(spread) * 1000
			if rng.IntN(10) == 0 {
				vals[i] = rng.Int64N(10_000_000) // a µs-resolution outlier
			}
			h.add(vals[i])
		}
		got := h.percentiles(ps)
		for i, p := range ps {
			if want := bruteForce(vals, p); got[i] != want {
				t.Fatalf("trial %d n=%d p%d = %d, brute force %d", trial, n, p, got[i], want)
			}
		}
		if got[len(ps)-1] != h.max || h.n != uint64(n) {
			t.Fatalf("p100 %d max %d n %d", got[len(ps)-1], h.max, h.n)
		}
	}
}

func TestPercentilesSmallCases(t *testing.T) {
	var h histogram
	for _, v := range []int64{15, 20, 35, 40, 50} {
		h.add(v)
	}
	// The textbook nearest-rank example: p30 = 20, p40 = 20, p50 = 35, p100 = 50.
	got := h.percentiles([]int{5, 30, 40, 50, 100})
	if !slices.Equal(got, []int64{15, 20, 20, 35, 50}) {
		t.Fatal(got)
	}
}

func TestHistogramMergeEqualsSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all histogram
	for i := 0; i < 1000; i++ {
		v := rng.Int64N(300)
		all.add(v)
		if i%3 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
	}
	a.merge(&b)
	ps := []int{50, 99}
	if !slices.Equal(a.percentiles(ps), all.percentiles(ps)) || a.n != all.n || a.sum != all.sum || a.max != all.max {
		t.Fatal("merge differs")
	}
}

func TestTopGroupsFoldsRestIntoOther(t *testing.T) {
	var s stats
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		g := s.group(name)
		for j := 0; j <= i; j++ {
			g.add(&Record{Status: 200})
		}
	}
	s.topGroups(3)
	if len(s.groups) != 4 || s.groups["e"].total != 5 || s.groups["d"].total != 4 || s.groups["c"].total != 3 || s.groups[otherGroup].total != 1+2 {
		t.Fatalf("%v", s.groups)
	}
}

func TestWriteValuesKeepsLargeWholeNumbers(t *testing.T) {
	var b strings.Builder
	writeValues(&b, "p", map[string]float64{"a": 42, "b": 0.5, "c": 1e19, "d": math.NaN()}, time.Unix(100, 0))
	want := "p.a\t42\t100\np.b\t0.500000\t100\np.c\t10000000000000000000.000000\t100\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
