package main

import (
	"bytes"
	"unicode/utf8"
)

// jsonParser reads one flat JSON object per line, as nginx writes with
// `log_format … escape=json`. It is a hand-written scanner: values are
// sliced out of the line, strings or numbers alike, nested objects and
// arrays are skipped, and it stops once every slot has its preferred key.
//
// A string value with escapes that ends up in Path or GroupValue is
// unescaped in place, inside line: Parse may rewrite those bytes.
type jsonParser struct{ keyed }

func newJSONParser(spec fieldSpec) *jsonParser { return &jsonParser{newKeyed(&spec)} }

func (p *jsonParser) Parse(line []byte, r *Record) error {
	line = trimCR(line)
	var fd found
	fd.init(p.wanted)
	var escaped [numSlots]bool
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return errSyntax
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		return fd.fill(r, p.fracDigits)
	}
	for {
		if i >= len(line) || line[i] != '"' {
			return errSyntax
		}
		keyEnd, keyEsc := stringEnd(line, i+1)
		if keyEnd < 0 {
			return errSyntax
		}
		key := line[i+1 : keyEnd]
		i = skipSpace(line, keyEnd+1)
		if i >= len(line) || line[i] != ':' {
			return errSyntax
		}
		i = skipSpace(line, i+1)
		if i >= len(line) {
			return errSyntax
		}
		var val []byte
		valEsc := false
		switch c := line[i]; {
		case c == '"':
			end, esc := stringEnd(line, i+1)
			if end < 0 {
				return errSyntax
			}
			val, valEsc, i = line[i+1:end], esc, end+1
		case c == '{' || c == '[':
			end := skipNested(line, i)
			if end < 0 {
				return errSyntax
			}
			i = end // nested values are never wanted
		default:
			start := i
			for i < len(line) && line[i] != ',' && line[i] != '}' && !isSpace(line[i]) {
				i++
			}
			val = line[start:i]
			if len(val) == 4 && string(val) == "null" {
				val = nil
			}
		}
		if val != nil {
			fn := p.lookupKey(key, keyEsc)
			if fn != nil {
				before := fd.prio
				fd.offer(fn, val)
				for sl := range before {
					if fd.prio[sl] != before[sl] {
						escaped[sl] = valEsc
					}
				}
				if fd.pending == 0 {
					break
				}
			}
		}
		i = skipSpace(line, i)
		if i >= len(line) {
			return errSyntax
		}
		if line[i] == '}' {
			break
		}
		if line[i] != ',' {
			return errSyntax
		}
		i = skipSpace(line, i+1)
	}
	// Decode in place only once the line is known to be good, so that a
	// malformed line is left as it was read.
	if fd.prio[slotStatus] == noPrio {
		return errNoStatus
	}
	if _, ok := parseStatus(fd.val[slotStatus]); !ok {
		return errBadStatus
	}
	for _, sl := range [...]slot{slotPath, slotGroup} {
		if escaped[sl] && fd.prio[sl] != noPrio {
			v, ok := unescapeJSON(fd.val[sl][:0], fd.val[sl])
			if !ok {
				return errSyntax
			}
			fd.val[sl] = v
		}
	}
	return fd.fill(r, p.fracDigits)
}

// lookupKey finds a wanted key; a key written with escapes is decoded into
// a stack buffer first.
func (p *jsonParser) lookupKey(key []byte, esc bool) *fieldName {
	if !esc {
		return p.labels.lookup(key)
	}
	if len(key) > 4*maxLabelLen {
		return nil
	}
	var buf [4 * maxLabelLen]byte
	dec, ok := unescapeJSON(buf[:0], key)
	if !ok {
		return nil
	}
	return p.labels.lookup(dec)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing a JSON string whose
// contents start at i, or -1, and whether the contents hold escapes.
func stringEnd(b []byte, i int) (int, bool) {
	q := quotedEnd(b, i)
	if q < 0 {
		return -1, false
	}
	return q, bytes.IndexByte(b[i:q], '\\') >= 0
}

// skipNested returns the index just past the object or array starting at
// b[i], or -1 when it does not close.
func skipNested(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '"':
			end, _ := stringEnd(b, i+1)
			if end < 0 {
				return -1
			}
			i = end
		}
		i++
	}
	return -1
}

// unescapeJSON appends the decoded form of the string contents src to dst
// and returns it. dst may be src[:0]: the decoded form is never longer.
// ok is false for a malformed escape.
func unescapeJSON(dst, src []byte) ([]byte, bool) {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(src) {
			return dst, false
		}
		switch src[i] {
		case '"', '\\', '/':
			dst = append(dst, src[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(src[i+1:])
			if !ok {
				return dst, false
			}
			i += 4
			if r >= 0xD800 && r < 0xDC00 && i+6 < len(src) && src[i+1] == '\\' && src[i+2] == 'u' {
				if lo, ok := hex4(src[i+3:]); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
