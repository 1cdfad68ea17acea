package main

import (
	"encoding/binary"
	"math/bits"
	"strings"
)

// maxLabelLen bounds the labels the LTSV and JSON parsers look up; longer
// field names are never wanted, which keeps the table small.
const maxLabelLen = 64

// labelTable finds a wanted field name without a map: by length first,
// then by comparing the few names of that length.
type labelTable struct {
	byLen [maxLabelLen + 1][]fieldName
}

func newLabelTable(spec *fieldSpec) *labelTable {
	t := &labelTable{}
	for _, fn := range spec.fieldNames() {
		if n := len(fn.name); n <= maxLabelLen {
			t.byLen[n] = append(t.byLen[n], fn)
		}
	}
	return t
}

func (t *labelTable) lookup(label []byte) *fieldName {
	if len(label) > maxLabelLen {
		return nil
	}
	cands := t.byLen[len(label)]
	for i := range cands {
		if label[0] == cands[i].name[0] && string(label) == cands[i].name {
			return &cands[i]
		}
	}
	return nil
}

// ltsvParser reads Labeled Tab-separated Values: label:value pairs joined
// by tabs. It stops as soon as every slot has its most preferred label.
//
// Each byte of a line is looked at once, and few bytes one at a time: the
// tabs are found 64 bytes at a time as a bitmap (tabBits64), so that where
// a field ends never waits on the previous field's label; then a field's
// first byte picks the wanted labels that start with it, and each is
// compared with the field's first eight bytes as one word (the rest of a
// longer label as a string), colon included, so no field is scanned for its
// colon. A label cannot match past its field's end: neither it nor its colon
// holds a tab.
type ltsvParser struct {
	keyed
	byFirst [256][]ltsvLabel
	// firstTwo[c] has bit d&63 set when a wanted label+":" starts with the
	// bytes c, d: most fields are passed over on this one test.
	firstTwo [256]uint64
}

// ltsvLabel is a wanted label with its colon ("status:"), as a word to
// compare with a field's first bytes.
type ltsvLabel struct {
	head uint64 // the first eight bytes of label+":" (fewer: zero-padded)
	mask uint64 // the bytes of head that count
	tail string // label+":" beyond its first eight bytes
	full string // label+":"
	n    int    // len(label)+1: where the value starts
	fn   *fieldName
}

func newLTSVParser(spec fieldSpec) *ltsvParser {
	p := &ltsvParser{keyed: newKeyed(&spec)}
	for n := range p.labels.byLen {
		for i := range p.labels.byLen[n] {
			fn := &p.labels.byLen[n][i]
			// A label ends at the field's first colon and never holds a
			// tab: a name with either can never match.
			if strings.ContainsAny(fn.name, ":\t") {
				continue
			}
			full := fn.name + ":"
			var word [8]byte
			k := copy(word[:], full)
			l := ltsvLabel{head: binary.LittleEndian.Uint64(word[:]), mask: ^uint64(0) >> (64 - 8*k), tail: full[k:], full: full, n: len(full), fn: fn}
			p.byFirst[full[0]] = append(p.byFirst[full[0]], l)
			p.firstTwo[full[0]] |= 1 << (full[1] & 63)
		}
	}
	return p
}

// match returns the label that field (the rest of the line from a field's
// start) begins with, or nil.
func (p *ltsvParser) match(field []byte) *ltsvLabel {
	cands := p.byFirst[field[0]]
	if len(cands) == 0 {
		return nil
	}
	if len(field) < 8 {
		for i := range cands {
			l := &cands[i]
			if l.n <= len(field) && string(field[:l.n]) == l.full {
				return l
			}
		}
		return nil
	}
	w := binary.LittleEndian.Uint64(field)
	for i := range cands {
		l := &cands[i]
		if w&l.mask != l.head {
			continue
		}
		if len(l.tail) == 0 || (l.n <= len(field) && string(field[8:l.n]) == l.tail) {
			return l
		}
	}
	return nil
}

// keyed is what the parsers of named fields (LTSV, JSON) share.
type keyed struct {
	labels     *labelTable
	wanted     uint8 // slots to look for
	fracDigits int
}

func newKeyed(spec *fieldSpec) keyed {
	return keyed{labels: newLabelTable(spec), wanted: spec.wantedMask(), fracDigits: spec.fracDigits}
}

func (p *ltsvParser) Parse(line []byte, r *Record) error {
	line = trimCR(line)
	var fd found
	fd.init(p.wanted)
	start := 0 // of the current field
	for base := 0; base < len(line); base += 64 {
		var m uint64
		switch {
		case base+64 <= len(line):
			m = tabBits64(&line[base])
		case len(line) >= 64:
			// The line's last 64 bytes, without those already seen.
			m = tabBits64(&line[len(line)-64]) >> (base + 64 - len(line))
		default:
			m = tabBits(line[base:])
		}
		for ; m != 0; m &= m - 1 {
			tab := base + bits.TrailingZeros64(m)
			if tab-start >= 2 && p.firstTwo[line[start]]&(1<<(line[start+1]&63)) != 0 &&
				p.field(&fd, line[start:], tab-start) {
				return fd.fill(r, p.fracDigits)
			}
			start = tab + 1
		}
	}
	if len(line)-start >= 2 {
		p.field(&fd, line[start:], len(line)-start)
	}
	return fd.fill(r, p.fracDigits)
}

// field offers the field rest[:n] (rest runs to the end of the line; n is
// at least 2, the shortest label with its colon) when its label is wanted,
// and reports whether every slot has its most preferred label.
func (p *ltsvParser) field(fd *found, rest []byte, n int) bool {
	l := p.match(rest)
	if l == nil {
		return false
	}
	fd.offer(l.fn, rest[l.n:n])
	return fd.pending == 0
}
