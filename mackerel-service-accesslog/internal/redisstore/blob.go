package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// A histogram of one contribution is stored as one blob: its distinct
// values ascending, each with its count, delta-encoded in varints. A µs
// histogram of 10,000 requests takes about 2 bytes a value where one hash
// field a value took about 40 in Redis, and the aggregator merges the
// blobs of a window in one pass (mergeBlobs) without a map.
//
// Format: a version byte, the number of values (uvarint), then the first
// value (zigzag varint) and its count (uvarint), then for each further
// value:
//   - version 1: uvarint(delta<<1 | more), then uvarint(count-2) when more
//     is 1 (a count of 1, the usual one at µs, costs no byte);
//   - version 2 (when a delta does not fit 63 bits): uvarint(delta), uvarint(count).
//
// delta is the value minus the one before it, above 0; every count is above 0.
const (
	blobPacked = 1
	blobPlain  = 2
)

// encodeBlob writes h's values as a blob.
func encodeBlob(h *fleet.Histogram) []byte {
	vals, counts := h.Ascending()
	version := byte(blobPacked)
	if len(vals) > 1 && uint64(vals[len(vals)-1])-uint64(vals[0]) > math.MaxInt64 {
		version = blobPlain
	}
	b := make([]byte, 0, 16+3*len(vals))
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(vals)))
	for i, v := range vals {
		c := counts[i]
		switch {
		case i == 0:
			b = binary.AppendVarint(b, v)
			b = binary.AppendUvarint(b, c)
		case version == blobPlain:
			b = binary.AppendUvarint(b, uint64(v)-uint64(vals[i-1]))
			b = binary.AppendUvarint(b, c)
		case c == 1:
			b = binary.AppendUvarint(b, (uint64(v)-uint64(vals[i-1]))<<1)
		default:
			b = binary.AppendUvarint(b, (uint64(v)-uint64(vals[i-1]))<<1|1)
			b = binary.AppendUvarint(b, c-2)
		}
	}
	return b
}

// blobReader reads a blob's values one by one.
type blobReader struct {
	b       string
	version byte
	left    uint64 // values not yet read
	val     int64  // the last value read
	count   uint64 // its count
	started bool
}

var errBlobShort = errors.New("blob ends within a value")

// newBlobReader checks a blob's header.
func newBlobReader(b string) (*blobReader, error) {
	if len(b) == 0 || (b[0] != blobPacked && b[0] != blobPlain) {
		return nil, errors.New("blob: unknown version")
	}
	n, k := uvarint(b[1:])
	if k <= 0 {
		return nil, errors.New("blob: bad length")
	}
	rest := b[1+k:]
	if n > uint64(len(rest)) { // each value takes at least one byte
		return nil, fmt.Errorf("blob: %d values in %d bytes", n, len(rest))
	}
	return &blobReader{b: rest, version: b[0], left: n}, nil
}

// next reads the next value and its count; false at the end.
func (r *blobReader) next() (bool, error) {
	if r.left == 0 {
		if len(r.b) != 0 {
			return false, fmt.Errorf("blob: %d bytes after the last value", len(r.b))
		}
		return false, nil
	}
	r.left--
	if !r.started {
		u, k := uvarint(r.b)
		if k <= 0 {
			return false, errBlobShort
		}
		r.b, r.val, r.started = r.b[k:], int64(u>>1)^-int64(u&1), true
		return true, r.readCount()
	}
	d, err := r.uvarint()
	if err != nil {
		return false, err
	}
	count := uint64(1)
	switch {
	case r.version == blobPlain:
		if count, err = r.uvarint(); err != nil {
			return false, err
		}
	case d&1 == 1:
		if count, err = r.uvarint(); err != nil {
			return false, err
		}
		if count += 2; count < 2 {
			return false, errors.New("blob: a count above 2^64")
		}
		d >>= 1
	default:
		d >>= 1
	}
	// The room above the last value, exact in modular arithmetic: the true
	// difference is within [0, 2^64).
	if room := uint64(math.MaxInt64) - uint64(r.val); d == 0 || d > room {
		return false, fmt.Errorf("blob: value %d followed by a step of %d", r.val, d)
	}
	r.val = int64(uint64(r.val) + d)
	r.count = count
	if count == 0 {
		return false, errors.New("blob: a count of 0")
	}
	return true, nil
}

// readCount reads the first value's count.
func (r *blobReader) readCount() error {
	c, err := r.uvarint()
	if err != nil {
		return err
	}
	if c == 0 {
		return errors.New("blob: a count of 0")
	}
	r.count = c
	return nil
}

func (r *blobReader) uvarint() (uint64, error) {
	v, k := uvarint(r.b)
	if k <= 0 {
		return 0, errBlobShort
	}
	r.b = r.b[k:]
	return v, nil
}

// uvarint is binary.Uvarint on a string (Redis's replies are strings: no
// copy of a window's blobs): the value and the bytes read, or k <= 0 when
// s ends within it or it overflows 64 bits.
func uvarint(s string) (v uint64, k int) {
	if len(s) > 0 && s[0] < 0x80 {
		return uint64(s[0]), 1
	}
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1
			}
			return v | uint64(c)<<shift, i + 1
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
