package fleet

import (
	"encoding/json"
	"testing"
)

// FuzzHistogramJSON: a spool file's histogram either is refused or reads
// back to one whose n and max agree with its values, and writes out
// and reads back the same.
func FuzzHistogramJSON(f *testing.F) {
	f.Add([]byte(`{"n":3,"sum":3000,"max":2000,"counts":[1000,1,2000,1,0,1]}`))
	f.Add([]byte(`{"n":0,"sum":0,"max":0,"counts":[]}`))
	f.Add([]byte(`{"n":1,"sum":-5,"max":-5,"counts":[-5,1]}`))
	f.Add([]byte(`{"counts":[1,2,3]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Histogram
		if err := json.Unmarshal(b, &h); err != nil {
			return
		}
		var n uint64
		for _, c := range h.Counts {
			n += c
		}
		if n != h.N {
			t.Fatalf("accepted %s: counts add to %d, n=%d", b, n, h.N)
		}
		out, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var back Histogram
		if err := json.Unmarshal(out, &back); err != nil || back.N != h.N || back.Max != h.Max || len(back.Counts) != len(h.Counts) {
			t.Fatalf("%s → %s → %+v (%v)", b, out, back, err)
		}
		if h.N > 0 {
			h.Percentiles(Percentiles)
		}
	})
}

// FuzzParseWindow: an index member either parses to a window that prints
// back as itself or is refused.
func FuzzParseWindow(f *testing.F) {
	f.Add("1700000000+60")
	f.Add("-5+1")
	f.Add("1+0")
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		if w.Len <= 0 {
			t.Fatalf("%q: length %d accepted", s, w.Len)
		}
		if again, err := ParseWindow(w.String()); err != nil || again != w {
			t.Fatalf("%q → %v → %v (%v)", s, w, again, err)
		}
	})
}
