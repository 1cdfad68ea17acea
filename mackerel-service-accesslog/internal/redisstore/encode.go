package redisstore

import (
	"fmt"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"math"
	"strconv"
	"strings"
)

// A window's data hash has one field per counter, "[g/GROUP/]NAME", and one
// per histogram of each contribution, "[g/GROUP/]req/b/ID" (or up/…), whose
// value is the histogram's blob (blob.go). Versions before the blobs wrote
// one field per histogram value, "[g/GROUP/]req/v/MICROSECONDS", holding its
// count: they are still read, and merged with the blobs. Group names are
// metric-name safe, so they never hold a '/'.

// op is one change to the data hash: "i" adds value to field (HINCRBY: an
// integer that cannot overflow, as it counts lines), "f" adds value to field
// as a floating-point number (HINCRBYFLOAT: bytes, which bogus sizes could
// push past an int64), "m" raises field to value, "b" sets field to value
// (a histogram's blob, under a field of its own contribution), "s" sets
// field to value unless it is set (the first example of an error group).
type op struct{ kind, field, value string }

func contributionOps(c *fleet.Contribution) []op {
	var ops []op
	ops = countsOps(ops, "", c.ID, &c.All)
	for name, g := range c.Groups {
		ops = countsOps(ops, "g/"+name+"/", c.ID, g)
	}
	return errorOps(ops, c)
}

func countsOps(ops []op, scope, id string, c *fleet.Counts) []op {
	add := func(field string, v int64) {
		if v != 0 {
			ops = append(ops, op{"i", scope + field, strconv.FormatInt(v, 10)})
		}
	}
	add("total", int64(c.Total))
	for i := 1; i < len(c.Class); i++ {
		add("class/"+strconv.Itoa(i), int64(c.Class[i]))
	}
	for i, code := range fleet.TrackedCodes {
		add("code/"+strconv.Itoa(code), int64(c.Code[i]))
	}
	if c.Bytes != 0 {
		ops = append(ops, op{"f", scope + "bytes", strconv.FormatFloat(c.Bytes, 'f', -1, 64)})
	}
	for _, h := range []struct {
		name string
		h    *fleet.Histogram
	}{{"req", &c.ReqTime}, {"up", &c.Upstream}} {
		if h.h.N == 0 {
			continue
		}
		add(h.name+"/n", int64(h.h.N))
		ops = append(ops, op{"m", scope + h.name + "/max", strconv.FormatInt(h.h.Max, 10)})
		ops = append(ops, op{"b", scope + h.name + "/b/" + id, string(encodeBlob(h.h))})
	}
	return ops
}

// decodeData reads a window's data hash back into counts. The n and max
// fields are checked against the values, so a damaged hash is an error, not
// a wrong percentile.
func decodeData(fields map[string]string) (all fleet.Counts, groups map[string]*fleet.Counts, err error) {
	groups = map[string]*fleet.Counts{}
	declared := map[*fleet.Histogram]*declaredSums{}
	for f, s := range fields {
		if strings.HasPrefix(f, "e/") {
			continue // decodeErrors
		}
		c := &all
		name := f
		if rest, ok := strings.CutPrefix(f, "g/"); ok {
			g, n, ok := strings.Cut(rest, "/")
			if !ok {
				return all, nil, fmt.Errorf("data field %s: no name after the group", f)
			}
			if groups[g] == nil {
				groups[g] = &fleet.Counts{}
			}
			c, name = groups[g], n
		}
		if h, id, ok := blobField(c, name); ok {
			if id == "" {
				return all, nil, fmt.Errorf("data field %s: no contribution id", f)
			}
			declare(declared, h).blobs = append(declare(declared, h).blobs, s)
			continue
		}
		if name == "bytes" {
			b, perr := strconv.ParseFloat(s, 64)
			if perr != nil || math.IsNaN(b) || math.IsInf(b, 0) {
				return all, nil, fmt.Errorf("data field %s=%q: not a number", f, s)
			}
			c.Bytes = b
			continue
		}
		v, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil {
			return all, nil, fmt.Errorf("data field %s=%q: not an integer", f, s)
		}
		if err := setField(c, name, v, declared); err != nil {
			return all, nil, fmt.Errorf("data field %s: %v", f, err)
		}
	}
	for h, d := range declared {
		if err := d.merge(h); err != nil {
			return all, nil, err
		}
		if uint64(d.n) != h.N || d.max != h.Max {
			return all, nil, fmt.Errorf("data hash damaged: a histogram declares n=%d max=%d but its values give n=%d max=%d", d.n, d.max, h.N, h.Max)
		}
	}
	return all, groups, nil
}

// declaredSums are a histogram's stored n and max, and its blobs.
type declaredSums struct {
	n, max int64
	blobs  []string
}

func declare(declared map[*fleet.Histogram]*declaredSums, h *fleet.Histogram) *declaredSums {
	d := declared[h]
	if d == nil {
		d = &declaredSums{}
		declared[h] = d
	}
	return d
}

// merge sets h to its blobs merged with the values of old fields already in it.
func (d *declaredSums) merge(h *fleet.Histogram) error {
	if len(d.blobs) == 0 {
		return nil
	}
	vals, counts, err := mergeBlobs(d.blobs, h.Counts)
	if err != nil {
		return fmt.Errorf("data hash damaged: %v", err)
	}
	return h.SetSorted(vals, counts)
}

// blobField says whether name ("req/b/ID", "up/b/ID") is a histogram's
// blob, and of which histogram of c.
func blobField(c *fleet.Counts, name string) (h *fleet.Histogram, id string, ok bool) {
	if id, ok = strings.CutPrefix(name, "req/b/"); ok {
		return &c.ReqTime, id, true
	}
	if id, ok = strings.CutPrefix(name, "up/b/"); ok {
		return &c.Upstream, id, true
	}
	return nil, "", false
}

func setField(c *fleet.Counts, name string, v int64, declared map[*fleet.Histogram]*declaredSums) error {
	head, tail, _ := strings.Cut(name, "/")
	switch head {
	case "total":
		c.Total = uint64(v)
	case "class":
		i, err := strconv.Atoi(tail)
		if err != nil || i < 1 || i > 5 {
			return fmt.Errorf("unknown class")
		}
		c.Class[i] = uint64(v)
	case "code":
		code, err := strconv.Atoi(tail)
		i := fleet.CodeIndex(code)
		if err != nil || i < 0 {
			return fmt.Errorf("untracked code")
		}
		c.Code[i] = uint64(v)
	case "req", "up":
		h := &c.ReqTime
		if head == "up" {
			h = &c.Upstream
		}
		d := declare(declared, h)
		switch {
		case tail == "n":
			d.n = v
		case tail == "sum":
			// Written by earlier versions (an int64 that could overflow): the mean comes from the values.
		case tail == "max":
			d.max = v
		case strings.HasPrefix(tail, "v/"):
			x, err := strconv.ParseInt(tail[2:], 10, 64)
			if err != nil {
				return fmt.Errorf("bad histogram value")
			}
			h.AddN(x, uint64(v))
		default:
			return fmt.Errorf("unknown histogram field")
		}
	default:
		return fmt.Errorf("unknown field")
	}
	return nil
}
