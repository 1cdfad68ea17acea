package redisstore

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// readBlob decodes a whole blob into its pairs, checking what every blob
// the decoder accepts must hold: values strictly ascending, counts above 0.
func readBlob(t *testing.T, b string) (vals []int64, counts []uint64, err error) {
	r, err := newBlobReader(b)
	if err != nil {
		return nil, nil, err
	}
	for {
		ok, err := r.next()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return vals, counts, nil
		}
		if len(vals) > 0 && r.val <= vals[len(vals)-1] {
			t.Fatalf("blob %x: %d after %d", b, r.val, vals[len(vals)-1])
		}
		if r.count == 0 {
			t.Fatalf("blob %x: a count of 0 accepted", b)
		}
		vals, counts = append(vals, r.val), append(counts, r.count)
	}
}

// randomHistogram draws values from one of several shapes: µs and ms
// request times, negative values, the extremes of an int64, huge counts.
func randomHistogram(r *rand.Rand, n int) *fleet.Histogram {
	h := &fleet.Histogram{}
	shape := r.IntN(5)
	for range n {
		switch shape {
		case 0:
			h.Add(int64(math.Exp(r.NormFloat64()+10.5)) % 5_000_000) // µs
		case 1:
			h.Add(r.Int64N(3000) * 1000) // ms
		case 2:
			h.AddN(r.Int64N(200)-100, 1+r.Uint64N(5))
		case 3:
			h.AddN([]int64{math.MinInt64, -1, 0, 1, math.MaxInt64, 1 << 50}[r.IntN(6)], 1+r.Uint64N(1<<40))
		default:
			h.AddN(r.Int64(), 1)
		}
	}
	return h
}

// TestMergeBlobsIsExact: the merge of many contributions' blobs (and of
// old one-field-a-value counts) equals a brute force over every pair of
// every input, for each shape and for inputs that are empty.
func TestMergeBlobsIsExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(20, 5))
	for round := range 200 {
		k := r.IntN(40)
		var blobs []string
		want := map[int64]uint64{}
		for range k {
			h := randomHistogram(r, r.IntN(300))
			blobs = append(blobs, string(encodeBlob(h)))
			for v, c := range h.Counts {
				want[v] += c
			}
		}
		old := map[int64]uint64{}
		if round%3 == 0 {
			for v, c := range randomHistogram(r, r.IntN(50)).Counts {
				old[v] += c
				want[v] += c
			}
		}
		vals, counts, err := mergeBlobs(blobs, old)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		wantVals := make([]int64, 0, len(want))
		for v := range want {
			wantVals = append(wantVals, v)
		}
		slices.Sort(wantVals)
		if !slices.Equal(vals, wantVals) {
			t.Fatalf("round %d: %d values merged, want %d", round, len(vals), len(wantVals))
		}
		for i, v := range vals {
			if counts[i] != want[v] {
				t.Fatalf("round %d: value %d counted %d, want %d", round, v, counts[i], want[v])
			}
		}
	}
}

// TestBlobSize: a host's minute of µs times (10,000 requests) takes about
// 2 bytes a distinct value, ms times about 2 as well.
func TestBlobSize(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name string
		draw func() int64
	}{
		{"µs", func() int64 { return usTime(r) }},
		{"ms", func() int64 { return usTime(r) / 1000 * 1000 }},
	} {
		h := &fleet.Histogram{}
		for range 10_000 {
			h.Add(c.draw())
		}
		per := float64(len(encodeBlob(h))) / float64(len(h.Counts))
		t.Logf("%s: %d distinct values, %.2f bytes each", c.name, len(h.Counts), per)
		if per > 3 {
			t.Errorf("%s: %.2f bytes a value, want at most 3", c.name, per)
		}
	}
}

func TestBlobRefusesDamage(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]byte{
		"empty":                  {},
		"unknown version":        {9, 0},
		"more values than bytes": {1, 5, 2, 1},
		"trailing bytes":         {1, 1, 2, 1, 7},
		"count of 0":             {1, 1, 2, 0},
		"step of 0":              {1, 2, 2, 1, 0},
		"past MaxInt64":          binary.AppendUvarint(binary.AppendUvarint(binary.AppendVarint([]byte{2, 2}, math.MaxInt64-1), 1), 2),
		"cut":                    {1, 2, 2, 1, 0x80},
	} {
		if _, _, err := readBlob(t, string(b)); err == nil {
			t.Errorf("%s: %x accepted", name, b)
		}
	}
}

// FuzzBlob: no input makes the decoder panic; what it accepts is ascending
// with counts above 0, merges with itself to the same values, and encoding
// it again gives a blob that reads back to the same pairs. From the other side, a histogram built from the input
// encodes to a blob that reads back to exactly its values.
func FuzzBlob(f *testing.F) {
	f.Add([]byte{1, 2, 2, 1, 4})
	f.Add([]byte{2, 2, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1})
	f.Add(encodeBlob(randomHistogram(rand.New(rand.NewPCG(1, 1)), 50)))
	f.Add(encodeBlob(randomHistogram(rand.New(rand.NewPCG(1, 4)), 50)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if vals, counts, err := readBlob(t, string(b)); err == nil {
			mv, mc, err := mergeBlobs([]string{string(b), string(b)}, nil)
			if err == nil && (!slices.Equal(mv, vals) || len(mc) != len(counts) || (len(mc) > 0 && mc[0] != 2*counts[0])) {
				t.Fatalf("%x merged with itself: %v %v, want %v twice %v", b, mv, mc, vals, counts)
			}
			h := &fleet.Histogram{}
			if err := h.SetSorted(vals, counts); err == nil {
				v2, c2, err := readBlob(t, string(encodeBlob(h)))
				if err != nil || !slices.Equal(v2, vals) || !slices.Equal(c2, counts) {
					t.Fatalf("%x: read back %v %v (%v), want %v %v", b, v2, c2, err, vals, counts)
				}
			}
		}
		h := &fleet.Histogram{}
		for len(b) >= 9 {
			h.AddN(int64(binary.LittleEndian.Uint64(b)), uint64(b[8]))
			b = b[9:]
		}
		vals, counts, err := readBlob(t, string(encodeBlob(h)))
		if err != nil || len(vals) != len(h.Counts) {
			t.Fatalf("%v: %d values read back (%v)", h.Counts, len(vals), err)
		}
		for i, v := range vals {
			if h.Counts[v] != counts[i] {
				t.Fatalf("%v: value %d read back with count %d", h.Counts, v, counts[i])
			}
		}
	})
}

// usTime is a request time in µs as Apache's %D logs it: log-normal around
// 60 ms (σ 1.5 in log space), capped at 5 s. 2 M of them hold about 500,000
// distinct values (issue 20 measured 474,855 in 2 M requests), 10 M about
// 1,040,000.
func usTime(r *rand.Rand) int64 {
	return min(int64(math.Exp(r.NormFloat64()*1.5+11)), 5_000_000)
}
