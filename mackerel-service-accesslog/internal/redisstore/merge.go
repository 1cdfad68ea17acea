package redisstore

import (
	"errors"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// mergeBlobs merges a histogram's blobs, one per contribution, into its
// distinct values ascending and their counts, in one pass over all of
// them (a k-way merge on a heap of readers): no map of every distinct
// value, and no blob decoded whole. old are values stored one hash field
// each (written by earlier versions), merged in as one more blob.
func mergeBlobs(blobs []string, old map[int64]uint64) (vals []int64, counts []uint64, err error) {
	if len(old) > 0 {
		blobs = append(blobs, string(encodeBlob(&fleet.Histogram{Counts: old})))
	}
	h := make(readerHeap, 0, len(blobs))
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
			h = append(h, r)
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	for len(h) > 0 {
		r := h[0]
		if n := len(vals); n > 0 && vals[n-1] == r.val {
			if counts[n-1]+r.count < counts[n-1] {
				return nil, nil, errors.New("blob: a value counted more than 2^64 times")
			}
			counts[n-1] += r.count
		} else {
			vals = append(vals, r.val)
			counts = append(counts, r.count)
		}
		ok, err := r.next()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		h.down(0)
	}
	return vals, counts, nil
}

// readerHeap is a min-heap of blob readers by their current value.
type readerHeap []*blobReader

func (h readerHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].val < h[l].val {
			m = r
		}
		if h[i].val <= h[m].val {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
