package redisstore

import (
	"cmp"
	"errors"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// mergeBlobs merges a histogram's blobs, one per contribution, into its
// distinct values ascending and their counts, in one pass over all of
// them, without a map of every distinct value and without decoding a blob
// whole. old are values stored one hash field each (written by earlier
// versions), merged in as one more blob.
//
// Request times are dense (a million distinct µs values within 5 s): the
// merge counts them span by span in an array indexed by value (spanLen
// values at a time, from the smallest value not yet merged), which costs a
// few ns a value whatever the number of blobs. When the values turn out
// sparse (a span holds fewer values than there are blobs), it finishes on
// a heap of the blobs' readers, log2(blobs) comparisons a value.
func mergeBlobs(blobs []string, old map[int64]uint64) (vals []int64, counts []uint64, err error) {
	if len(old) > 0 {
		blobs = append(blobs, string(encodeBlob(&fleet.Histogram{Counts: old})))
	}
	readers := make([]*blobReader, 0, len(blobs))
	for _, b := range blobs {
		r, err := newBlobReader(b)
		if err != nil {
			return nil, nil, err
		}
		ok, err := r.next()
		if err != nil {
			return nil, nil, err
		}
		if ok {
			readers = append(readers, r)
		}
	}
	var out chunked
	if readers, err = mergeSpans(readers, &out); err == nil {
		err = mergeHeap(readers, &out)
	}
	if err != nil {
		return nil, nil, err
	}
	vals, counts = out.flatten()
	return vals, counts, nil
}

var errCountOverflow = errors.New("blob: a value counted more than 2^64 times")

// spanLen is how many consecutive values a span counts (512 KB of counts).
const spanLen = 1 << 16

// mergeSpans merges span after span while spans are dense, and returns the
// readers not yet at their end.
func mergeSpans(readers []*blobReader, out *chunked) ([]*blobReader, error) {
	sp := spans.Get().(*span)
	cnt, seen := &sp.cnt, &sp.seen
	for len(readers) > 0 {
		lo := readers[0].val
		for _, r := range readers[1:] {
			lo = min(lo, r.val)
		}
		hi := int64(math.MaxInt64) // the span is [lo, hi]
		if lo <= math.MaxInt64-(spanLen-1) {
			hi = lo + spanLen - 1
		}
		live := readers[:0]
		added := 0
		for _, r := range readers {
			ok := true
			for ok && r.val <= hi {
				i := r.val - lo
				if cnt[i]+r.count < cnt[i] {
					return nil, errCountOverflow
				}
				cnt[i] += r.count
				seen[i>>6] |= 1 << (i & 63)
				added++
				var err error
				if ok, err = r.next(); err != nil {
					return nil, err
				}
			}
			if ok {
				live = append(live, r)
			}
		}
		readers = live
		for w, bitsSet := range seen {
			for bitsSet != 0 {
				i := w*64 + bits.TrailingZeros64(bitsSet)
				bitsSet &= bitsSet - 1
				out.add(lo+int64(i), cnt[i])
				cnt[i] = 0
			}
			seen[w] = 0
		}
		if added < len(readers) {
			break // sparse: a span costs more than its values
		}
	}
	spans.Put(sp) // clean: every count added was taken out and zeroed
	return readers, nil
}

// span is mergeSpans' array, zero between uses: a window merges 2 to 42
// histograms (request and upstream times, overall and per group).
type span struct {
	cnt  [spanLen]uint64
	seen [spanLen / 64]uint64
}

var spans = sync.Pool{New: func() any { return new(span) }}

// mergeHeap merges what is left of readers on a min-heap by current value.
func mergeHeap(readers []*blobReader, out *chunked) error {
	h := make(readerHeap, 0, len(readers))
	for _, r := range readers {
		h = append(h, heapEntry{r.val, r})
	}
	slices.SortFunc(h, func(a, b heapEntry) int { return cmp.Compare(a.val, b.val) }) // a heap
	for len(h) > 0 {
		r := h[0].r
		if err := out.merge(r.val, r.count); err != nil {
			return err
		}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if !ok {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		} else {
			h[0].val = r.val
		}
		h.fixTop()
	}
	return nil
}

// chunked collects the merged values in chunks, copied once at the end
// into slices of the exact length: growing one slice by append would
// allocate about five times its final size on the way.
type chunked struct {
	vals   [][]int64
	counts [][]uint64
}

const chunkLen = 1 << 15

// add appends v (above every value added before).
func (c *chunked) add(v int64, n uint64) {
	k := len(c.vals) - 1
	if k < 0 || len(c.vals[k]) == chunkLen {
		c.vals = append(c.vals, make([]int64, 0, chunkLen))
		c.counts = append(c.counts, make([]uint64, 0, chunkLen))
		k++
	}
	c.vals[k] = append(c.vals[k], v)
	c.counts[k] = append(c.counts[k], n)
}

// merge adds v, or adds n to v's count when v is the last value added.
func (c *chunked) merge(v int64, n uint64) error {
	if k := len(c.vals) - 1; k >= 0 {
		if last := len(c.vals[k]) - 1; c.vals[k][last] == v {
			if c.counts[k][last]+n < n {
				return errCountOverflow
			}
			c.counts[k][last] += n
			return nil
		}
	}
	c.add(v, n)
	return nil
}

func (c *chunked) flatten() ([]int64, []uint64) {
	n := 0
	for _, v := range c.vals {
		n += len(v)
	}
	vals, counts := make([]int64, 0, n), make([]uint64, 0, n)
	for i := range c.vals {
		vals, counts = append(vals, c.vals[i]...), append(counts, c.counts[i]...)
		c.vals[i], c.counts[i] = nil, nil
	}
	return vals, counts
}

// readerHeap is a min-heap of blob readers by their current value, kept
// beside each reader so that the sift touches one small array.
type readerHeap []heapEntry

type heapEntry struct {
	val int64
	r   *blobReader
}

// fixTop restores the heap after its top changed, bottom-up (Floyd): down
// to a leaf along the smaller children, then up to the top's place. The
// top's new value is seldom small, so this takes about half the
// comparisons of a sift down that compares the top at each level.
func (h readerHeap) fixTop() {
	n := len(h)
	if n < 2 {
		return
	}
	top := h[0]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if l+1 < n && h[l+1].val < h[l].val {
			l++
		}
		h[i] = h[l]
		i = l
	}
	for i > 0 {
		p := (i - 1) / 2
		if h[p].val <= top.val {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = top
}
