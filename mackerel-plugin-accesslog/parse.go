package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Per-line parse errors. They are sentinel values so that a stream of bad
// lines costs no allocation; the reader counts them and prints one summary.
var (
	errNoStatus  = errors.New("no status field")
	errBadStatus = errors.New("status is not a number in 100..599")
	errSyntax    = errors.New("line does not match the log format")
)

// Formats accepted by NewParser.
const (
	formatLTSV     = "ltsv"
	formatJSON     = "json"
	formatCombined = "combined"
	formatCommon   = "common"
	formatNginx    = "nginx"
)

// NewParser returns the parser for format ("ltsv", the default when empty,
// "json", "combined", "common" or "nginx"). A non-empty nginxLogFormat (the
// log_format string pasted from nginx.conf) selects "nginx"; it cannot be
// combined with "json", "combined" or "common". Empty names in f mean the
// defaults documented on Fields. The returned Parser holds no mutable state
// and may be shared by goroutines.
//
// What every parser does with a line:
//   - the status must be exactly three digits in 100..599; otherwise, or
//     when it is missing, Parse returns errBadStatus or errNoStatus, and
//     errSyntax when the line does not have the format's shape;
//   - times and sizes that are "-", empty or not plain decimals are left
//     out (Has… false) and the line still counts; see parseTimeUS;
//   - a trailing '\r' (CRLF files) is ignored;
//   - nothing is allocated; Path and GroupValue point into line, and the
//     JSON parser may unescape those two values in place inside line.
func NewParser(format, nginxLogFormat string, f Fields) (Parser, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	if nginxLogFormat != "" {
		switch format {
		case "", formatLTSV, formatNginx:
			format = formatNginx
		default:
			return nil, fmt.Errorf("--format %s and --nginx-log-format exclude each other", format)
		}
	}
	if format == "" {
		format = formatLTSV
	}
	spec, err := newFieldSpec(format, f)
	if err != nil {
		return nil, err
	}
	switch format {
	case formatLTSV:
		return newLTSVParser(spec), nil
	case formatJSON:
		return newJSONParser(spec), nil
	case formatCombined, formatCommon:
		return newCLFParser(spec)
	case formatNginx:
		if strings.TrimSpace(nginxLogFormat) == "" {
			return nil, errors.New("--format nginx needs --nginx-log-format")
		}
		return newNginxParser(nginxLogFormat, spec)
	}
	return nil, fmt.Errorf("unknown --format %q (want ltsv, json, combined, common or nginx)", format)
}

// slot is one Record field a parser fills. Several field names may feed one
// slot (the time keys, the path keys); the lower the priority number, the
// more a name is preferred.
type slot uint8

const (
	slotStatus slot = iota
	slotTime
	slotUpstream
	slotBytes
	slotPath
	slotGroup
	numSlots
)

const noPrio = 255

// fieldSpec is Fields resolved for one format: for each slot the names to
// look for, most preferred first.
type fieldSpec struct {
	names      [numSlots][]string
	fracDigits int // digits after the decimal point that make a microsecond
}

var (
	defaultTimeKeys     = []string{"reqtime", "request_time", "ptime", "taken_sec"}
	defaultUpstreamKeys = []string{"upstream_response_time", "apptime"}
	defaultBytesKeys    = []string{"size", "body_bytes_sent", "bytes_sent"}
	defaultPathKeys     = []string{"uri", "req", "request", "request_uri"}
	nginxPathKeys       = []string{"request_uri", "uri", "request"}
	nginxBytesKeys      = []string{"body_bytes_sent", "bytes_sent"}
)

func newFieldSpec(format string, f Fields) (fieldSpec, error) {
	var s fieldSpec
	switch f.TimeUnit {
	case "", "s", "sec":
		s.fracDigits = 6
	case "ms", "msec":
		s.fracDigits = 3
	case "us", "usec", "µs":
		s.fracDigits = 0
	default:
		return s, fmt.Errorf("unknown --time-unit %q (want s, ms or us)", f.TimeUnit)
	}
	pathKeys, bytesKeys := defaultPathKeys, defaultBytesKeys
	if format == formatNginx {
		pathKeys, bytesKeys = nginxPathKeys, nginxBytesKeys
	}
	s.names[slotStatus] = []string{orDefault(f.Status, "status")}
	s.names[slotTime] = dedupe(f.Times)
	if len(s.names[slotTime]) == 0 {
		s.names[slotTime] = defaultTimeKeys
	}
	s.names[slotUpstream] = withDefaults(f.UpstreamTime, defaultUpstreamKeys)
	s.names[slotBytes] = withDefaults(f.Bytes, bytesKeys)
	if !f.SkipPath {
		s.names[slotPath] = withDefaults(f.Path, pathKeys)
	}
	if f.GroupBy != "" {
		s.names[slotGroup] = []string{f.GroupBy}
	}
	return s, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// withDefaults returns the names to try for a slot: the given name first,
// then, when it is empty or itself one of the defaults, the other defaults.
// So a caller may pass either "" or a default name and get the same fallback.
func withDefaults(given string, defaults []string) []string {
	if given == "" {
		return defaults
	}
	isDefault := false
	for _, d := range defaults {
		isDefault = isDefault || d == given
	}
	if !isDefault {
		return []string{given}
	}
	return dedupe(append([]string{given}, defaults...))
}

func dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		dup := n == ""
		for _, o := range out {
			dup = dup || o == n
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}

// fieldNames maps a field name to the slots it feeds, with its priority in
// each. One name may feed several slots (--group-by uri and the path).
type fieldName struct {
	name string
	prio [numSlots]uint8 // noPrio when the name does not feed the slot
	// The same, as a short list for the hot path: uses[:nUses].
	uses  [numSlots]slotUse
	nUses uint8
}

type slotUse struct {
	slot slot
	prio uint8
}

func (s *fieldSpec) fieldNames() []fieldName {
	var out []fieldName
	for sl := slot(0); sl < numSlots; sl++ {
		for p, n := range s.names[sl] {
			i := 0
			for i < len(out) && out[i].name != n {
				i++
			}
			if i == len(out) {
				fn := fieldName{name: n}
				for j := range fn.prio {
					fn.prio[j] = noPrio
				}
				out = append(out, fn)
			}
			if fn := &out[i]; fn.prio[sl] == noPrio {
				fn.prio[sl] = uint8(min(p, noPrio-1))
				fn.uses[fn.nUses] = slotUse{sl, fn.prio[sl]}
				fn.nUses++
			}
		}
	}
	return out
}

// found collects, while a line is scanned, the best value seen for each
// slot. It lives on the stack of Parse.
type found struct {
	val     [numSlots][]byte
	prio    [numSlots]uint8
	pending uint8 // bit per slot whose most preferred name is not yet seen
}

func (s *fieldSpec) wantedMask() uint8 {
	var m uint8
	for sl := slot(0); sl < numSlots; sl++ {
		if len(s.names[sl]) > 0 {
			m |= 1 << sl
		}
	}
	return m
}

func (fd *found) init(pending uint8) {
	fd.prio = [numSlots]uint8{noPrio, noPrio, noPrio, noPrio, noPrio, noPrio}
	fd.pending = pending
}

// offer records v for every slot fn feeds where it beats what was seen.
// An empty value or "-" counts as absent, so a later name may still fill
// the slot, except for the group, where "-" is a value like any other.
func (fd *found) offer(fn *fieldName, v []byte) {
	absent := len(v) == 0 || (len(v) == 1 && v[0] == '-')
	for _, u := range fn.uses[:fn.nUses] {
		sl, p := u.slot, u.prio
		if p >= fd.prio[sl] || (absent && sl != slotGroup) {
			continue
		}
		fd.prio[sl] = p
		fd.val[sl] = v
		if p == 0 {
			fd.pending &^= 1 << sl
		}
	}
}

// fill converts the collected values into r. Only the status can make the
// line malformed; a bad time or size is left out (see parseTimeUS).
func (fd *found) fill(r *Record, fracDigits int) error {
	if fd.prio[slotStatus] == noPrio {
		return errNoStatus
	}
	st, ok := parseStatus(fd.val[slotStatus])
	if !ok {
		return errBadStatus
	}
	r.Status = st
	if fd.prio[slotTime] != noPrio {
		r.ReqTimeUS, r.HasReqTime = parseTimeUS(fd.val[slotTime], fracDigits)
	}
	if fd.prio[slotUpstream] != noPrio {
		r.UpstreamTimeUS, r.HasUpstreamTime = sumTimesUS(fd.val[slotUpstream], fracDigits)
	}
	if fd.prio[slotBytes] != noPrio {
		r.BytesSent, r.HasBytesSent = parseCount(fd.val[slotBytes])
	}
	if fd.prio[slotPath] != noPrio {
		r.Path = requestPath(fd.val[slotPath])
	}
	if fd.prio[slotGroup] != noPrio {
		r.GroupValue, r.HasGroupValue = fd.val[slotGroup], true
	}
	return nil
}

// parseStatus accepts exactly three digits forming 100..599.
func parseStatus(b []byte) (int, bool) {
	if len(b) != 3 || b[0] < '1' || b[0] > '5' ||
		b[1] < '0' || b[1] > '9' || b[2] < '0' || b[2] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*100 + int(b[1]-'0')*10 + int(b[2]-'0'), true
}

// pow10 holds 10^0..10^6, the scales of s, ms and us to microseconds.
var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000}

// maxTimeUS bounds a time at about 31 years, far beyond any request, so
// that sums of several values cannot overflow.
const maxTimeUS = int64(1) << 50

// parseTimeUS reads a non-negative decimal ("0.123", "12", "5.") whose unit
// has fracDigits decimals per microsecond (6 for seconds, 3 for ms, 0 for
// us) into whole microseconds, exactly: digits beyond the microsecond are
// rounded half up, never through a float. "", "-", a sign, an exponent or
// any other text give no value (ok false) rather than a malformed line: the
// request happened and its status still counts, only its time is unknown.
func parseTimeUS(b []byte, fracDigits int) (us int64, ok bool) {
	// nginx's $request_time ("0.123", seconds to the millisecond) without
	// the loop; the same value the loop gives.
	if len(b) == 5 && b[1] == '.' && fracDigits >= 3 {
		d0, d1, d2, d3 := b[0]-'0', b[2]-'0', b[3]-'0', b[4]-'0'
		if d0 <= 9 && d1 <= 9 && d2 <= 9 && d3 <= 9 {
			ms := int64(d1)*100 + int64(d2)*10 + int64(d3)
			return int64(d0)*pow10[fracDigits] + ms*pow10[fracDigits-3], true
		}
	}
	var whole int64
	i, digits := 0, 0
	limit := maxTimeUS / pow10[fracDigits]
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		whole = whole*10 + int64(b[i]-'0')
		if whole > limit {
			return 0, false
		}
		digits++
	}
	us = whole * pow10[fracDigits]
	if i < len(b) && b[i] == '.' {
		i++
		var frac int64
		n := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			switch {
			case n < fracDigits:
				frac = frac*10 + int64(b[i]-'0')
			case n == fracDigits && b[i] >= '5':
				frac++ // round half up on the first dropped digit
			}
			n++
			digits++
		}
		for ; n < fracDigits; n++ {
			frac *= 10
		}
		us += frac
	}
	if i != len(b) || digits == 0 || us > maxTimeUS {
		return 0, false
	}
	return us, true
}

// sumTimesUS reads an $upstream_response_time value: one time, or several
// separated by ", " (retries) or " : " (internal redirects), which are
// summed. "-" members (no upstream reached) are skipped; when every member
// is "-" there is no value, and any other bad member voids the whole sum.
func sumTimesUS(b []byte, fracDigits int) (us int64, ok bool) {
	if us, ok := parseTimeUS(b, fracDigits); ok || len(b) < 2 {
		return us, ok // the common case: one value
	}
	seen := false
	for len(b) > 0 {
		end := 0
		for end < len(b) && b[end] != ',' && b[end] != ':' {
			end++
		}
		m := bytes.TrimSpace(b[:end])
		if end < len(b) {
			end++
		}
		b = b[end:]
		if len(m) == 1 && m[0] == '-' {
			continue
		}
		v, good := parseTimeUS(m, fracDigits)
		if !good {
			return 0, false
		}
		us += v
		seen = true
	}
	if us > maxTimeUS {
		return 0, false
	}
	return us, seen
}

// parseCount reads a non-negative byte count; "-" (Apache's %b for zero)
// and anything else give no value.
func parseCount(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// requestPath returns the path of a URI or of a request line
// ("GET /p?q HTTP/1.1"), without the query string; nil for "-" or "".
func requestPath(v []byte) []byte {
	if sp := bytes.IndexByte(v, ' '); sp >= 0 {
		v = v[sp+1:]
		if sp := bytes.IndexByte(v, ' '); sp >= 0 {
			v = v[:sp]
		}
	}
	if q := bytes.IndexByte(v, '?'); q >= 0 {
		v = v[:q]
	}
	if len(v) == 0 || (len(v) == 1 && v[0] == '-') {
		return nil
	}
	return v
}

// trimCR drops the carriage return a CRLF-terminated log leaves at the end
// of each line.
func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// quotedEnd returns the index of the quote that closes a quoted value whose
// contents start at i, or -1. A quote after an odd number of backslashes is
// escaped (\" in JSON, nginx's escape=json and Apache).
func quotedEnd(b []byte, i int) int {
	start := i
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		q += i
		if !escapedAt(b, start, q) {
			return q
		}
		i = q + 1
	}
}

// escapedAt reports whether b[k] follows an odd number of backslashes
// (counting none before start).
func escapedAt(b []byte, start, k int) bool {
	n := 0
	for k-1-n >= start && b[k-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}
