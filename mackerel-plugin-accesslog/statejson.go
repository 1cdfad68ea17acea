package main

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

// A state file is read at every run. encoding/json would build its
// reflection tables for these types first, which costs a run with nothing
// new a good part of its CPU time; UnmarshalJSON reads the plain form that
// json.Marshal writes by hand instead, and hands anything else (another
// spacing is fine; escapes in strings, non-ASCII, keys repeated or in
// another case, nulls where an object is expected, numbers that are not
// plain integers) to encoding/json, which then decides. FuzzStateJSON checks
// that both always agree.

// fileStateJSON is fileState without its UnmarshalJSON: encoding/json's.
type fileStateJSON fileState

// UnmarshalJSON reads a state file's content.
func (s *fileState) UnmarshalJSON(b []byte) error {
	var fresh fileState
	d := jdec{b: b}
	if d.fileState(&fresh) && d.end() {
		*s = fresh
		return nil
	}
	return json.Unmarshal(b, (*fileStateJSON)(s))
}

// jdec reads the plain JSON form; every method returns false for anything
// else, and the caller then gives up.
type jdec struct {
	b []byte
	i int
}

func (d *jdec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jdec) end() bool {
	d.ws()
	return d.i == len(d.b)
}

func (d *jdec) lit(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *jdec) word(w string) bool {
	d.ws()
	if len(d.b)-d.i >= len(w) && string(d.b[d.i:d.i+len(w)]) == w {
		d.i += len(w)
		return true
	}
	return false
}

// raw returns a string's bytes with their quotes: printable ASCII without
// escapes only.
func (d *jdec) raw() ([]byte, bool) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	for j := d.i + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			r := d.b[d.i : j+1]
			d.i = j + 1
			return r, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (d *jdec) str(dst *string) bool {
	r, ok := d.raw()
	if ok {
		*dst = string(r[1 : len(r)-1])
	}
	return ok
}

func (d *jdec) time(dst *time.Time) bool {
	r, ok := d.raw()
	return ok && dst.UnmarshalJSON(r) == nil
}

// number returns a plain integer's digits: -?(0|[1-9][0-9]*).
func (d *jdec) number() (string, bool) {
	d.ws()
	j := d.i
	if j < len(d.b) && d.b[j] == '-' {
		j++
	}
	start := j
	for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
		j++
	}
	if j == start || (d.b[start] == '0' && j > start+1) {
		return "", false
	}
	if j < len(d.b) && (d.b[j] == '.' || d.b[j] == 'e' || d.b[j] == 'E') {
		return "", false
	}
	s := string(d.b[d.i:j])
	d.i = j
	return s, true
}

func (d *jdec) int(dst *int64) bool {
	s, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	*dst = v
	return err == nil
}

func (d *jdec) uint(dst *uint64) bool {
	s, ok := d.number()
	if !ok || s[0] == '-' {
		return false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	*dst = v
	return err == nil
}

func (d *jdec) bool(dst *bool) bool {
	switch {
	case d.word("true"):
		*dst = true
	case d.word("false"):
		*dst = false
	default:
		return false
	}
	return true
}

// object reads {"key": value, ...}, each key once (a key given twice is
// merged by encoding/json: left to it), field reading each value.
func (d *jdec) object(field func(key string) bool) bool {
	if !d.lit('{') {
		return false
	}
	if d.lit('}') {
		return true
	}
	var seen []string
	for {
		var key string
		if !d.str(&key) || !d.lit(':') {
			return false
		}
		for _, k := range seen {
			if k == key {
				return false
			}
		}
		seen = append(seen, key)
		if !field(key) {
			return false
		}
		if d.lit(',') {
			continue
		}
		return d.lit('}')
	}
}

// array reads null (isNull) or [elem, ...].
func (d *jdec) array(isNull func(), elem func() bool) bool {
	if d.word("null") {
		isNull()
		return true
	}
	if !d.lit('[') {
		return false
	}
	if d.lit(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.lit(',') {
			continue
		}
		return d.lit(']')
	}
}

func (d *jdec) position(p *tail.Position) bool {
	return d.object(func(k string) bool {
		switch k {
		case "dev":
			return d.uint(&p.Dev)
		case "inode":
			return d.uint(&p.Inode)
		case "born":
			return d.int(&p.Born)
		case "offset":
			return d.int(&p.Offset)
		case "fingerprint":
			return d.str(&p.Fingerprint)
		case "fp_len":
			return d.int(&p.FPLen)
		case "tail_fingerprint":
			return d.str(&p.TailFingerprint)
		case "tail_len":
			return d.int(&p.TailLen)
		case "in_long_line":
			return d.bool(&p.InLongLine)
		}
		return false
	})
}

func (d *jdec) fileState(s *fileState) bool {
	return d.object(func(k string) bool {
		switch k {
		case "path":
			return d.str(&s.Path)
		case "current":
			return d.position(&s.Current)
		case "rotated":
			s.Rotated = []tail.Rotated{}
			return d.array(func() { s.Rotated = nil }, func() bool {
				var r tail.Rotated
				ok := d.object(func(k string) bool {
					switch k {
					case "path":
						return d.str(&r.Path)
					case "position":
						return d.position(&r.Position)
					case "last_seen":
						return d.time(&r.LastSeen)
					case "reported":
						return d.bool(&r.Reported)
					}
					return false
				})
				s.Rotated = append(s.Rotated, r)
				return ok
			})
		case "last_run":
			return d.time(&s.LastRun)
		case "siblings":
			s.Siblings = []tail.Sibling{}
			return d.array(func() { s.Siblings = nil }, func() bool {
				var sib tail.Sibling
				ok := d.object(func(k string) bool {
					switch k {
					case "inode":
						return d.uint(&sib.Inode)
					case "born":
						return d.int(&sib.Born)
					}
					return false
				})
				s.Siblings = append(s.Siblings, sib)
				return ok
			})
		case "inode":
			return d.uint(&s.Inode)
		case "pos":
			return d.int(&s.Pos)
		case "clock":
			return d.object(func(k string) bool {
				switch k {
				case "boot_id":
					return d.str(&s.Clock.Boot)
				case "uptime_ns":
					return d.int(&s.Clock.Uptime)
				}
				return false
			})
		}
		return false
	})
}
