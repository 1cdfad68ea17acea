package main

import "bytes"

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
type ltsvParser struct{ keyed }

func newLTSVParser(spec fieldSpec) *ltsvParser { return &ltsvParser{newKeyed(&spec)} }

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
	for len(line) > 0 {
		end := bytes.IndexByte(line, '\t')
		if end < 0 {
			end = len(line)
		}
		field := line[:end]
		colon := 0
		for colon < len(field) && colon <= maxLabelLen && field[colon] != ':' {
			colon++
		}
		if colon < len(field) && field[colon] == ':' {
			if fn := p.labels.lookup(field[:colon]); fn != nil {
				fd.offer(fn, field[colon+1:])
				if fd.pending == 0 {
					break
				}
			}
		}
		if end == len(line) {
			break
		}
		line = line[end+1:]
	}
	return fd.fill(r, p.fracDigits)
}
