package main

import (
	"bytes"
	"fmt"
)

// clfParser reads the Common and Combined Log Formats of Apache and nginx:
//
//	host ident user [time] "request" status bytes ["referer" "user-agent"] [extra…]
//
// Both formats share it: after the bytes field, quoted fields (referer,
// user agent, X-Forwarded-For …) are skipped, and the request time is
// detected among the unquoted fields that follow, as many configurations
// append it: a field `rt=…`, `request_time=…` (or any --time-key) gives it
// by name, `urt=…` or `upstream_response_time=…` the upstream time; bare
// numbers (or "-") are taken in order, the first as the request time, the
// second as the upstream time ("0.012, 0.034" and "0.1 : 0.2" lists
// included). Other unquoted fields are ignored. When extra fields are
// ambiguous, --nginx-log-format says exactly where each one is.
type clfParser struct {
	fracDigits int
	group      clfField
	timeKeys   []string
	upKeys     []string
}

// clfField names the fields of the format that --group-by may use.
type clfField int

const (
	clfNone clfField = iota
	clfRemoteAddr
	clfRemoteUser
	clfMethod
	clfReferer
	clfUserAgent
)

var clfGroupFields = map[string]clfField{
	"remote_addr":     clfRemoteAddr,
	"remote_user":     clfRemoteUser,
	"request_method":  clfMethod,
	"http_referer":    clfReferer,
	"http_user_agent": clfUserAgent,
}

func newCLFParser(spec fieldSpec) (*clfParser, error) {
	p := &clfParser{fracDigits: spec.fracDigits}
	if g := spec.names[slotGroup]; len(g) > 0 {
		f, ok := clfGroupFields[g[0]]
		if !ok {
			return nil, fmt.Errorf("--group-by %q is not a field of the common/combined format "+
				"(use remote_addr, remote_user, request_method, http_referer or http_user_agent, "+
				"or describe the log with --nginx-log-format)", g[0])
		}
		p.group = f
	}
	p.timeKeys = append([]string{"rt"}, spec.names[slotTime]...)
	p.upKeys = append([]string{"urt", "upstream_time"}, spec.names[slotUpstream]...)
	return p, nil
}

// clfToken is one field of a line: bare (up to a space), "quoted" (with \"
// escapes) or [bracketed]; key=value and key="value" are split at '='.
type clfToken struct {
	key, val   []byte
	quoted     bool
	bracketed  bool
	start, end int // of the whole token in the line
}

// nextToken reads the token at or after i; ok is false at the end of the
// line or on an unclosed quote or bracket.
func nextToken(line []byte, i int) (t clfToken, ok bool) {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i >= len(line) {
		return t, false
	}
	t.start = i
	switch line[i] {
	case '"':
		end := quotedEnd(line, i+1)
		if end < 0 {
			return t, false
		}
		t.val, t.quoted, t.end = line[i+1:end], true, end+1
	case '[':
		end := bytes.IndexByte(line[i:], ']')
		if end < 0 {
			return t, false
		}
		t.val, t.bracketed, t.end = line[i+1:i+end], true, i+end+1
	default:
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '=' {
			j++
		}
		if j < len(line) && line[j] == '=' {
			t.key = line[i:j]
			j++
			if j < len(line) && line[j] == '"' {
				end := quotedEnd(line, j+1)
				if end < 0 {
					return t, false
				}
				t.val, t.quoted, t.end = line[j+1:end], true, end+1
				return t, true
			}
			i = j
		}
		for j < len(line) && line[j] != ' ' {
			j++
		}
		t.val, t.end = line[i:j], j
	}
	return t, true
}

// maxLeadingFields bounds the bare fields before [time]: host ident user,
// and a few more for variants that prepend a virtual host or a client list.
const maxLeadingFields = 6

func (p *clfParser) Parse(line []byte, r *Record) error {
	line = trimCR(line)
	var lead [maxLeadingFields][]byte
	nLead := 0
	t, ok := nextToken(line, 0)
	for ok && !t.bracketed {
		if nLead == maxLeadingFields || t.quoted {
			return errSyntax
		}
		lead[nLead] = line[t.start:t.end] // whole, even if it holds '='
		nLead++
		t, ok = nextToken(line, t.end)
	}
	if !ok || nLead < 3 {
		return errSyntax
	}
	req, ok := nextToken(line, t.end)
	if !ok || !req.quoted {
		return errSyntax
	}
	st, ok := nextToken(line, req.end)
	if !ok {
		return errNoStatus
	}
	status, good := parseStatus(st.val)
	if !good || st.quoted || st.key != nil {
		return errBadStatus
	}
	r.Status = status
	r.Path = requestPath(req.val)
	b, ok := nextToken(line, st.end)
	if !ok {
		p.setGroup(r, lead[:nLead], req.val, nil, 0)
		return nil
	}
	if !b.quoted && b.key == nil {
		r.BytesSent, r.HasBytesSent = parseCount(b.val)
	}
	p.extras(line, b.end, r, lead[:nLead], req.val)
	return nil
}

// extras reads the fields after the bytes: quoted ones (referer, agent)
// for --group-by, and the request and upstream times.
func (p *clfParser) extras(line []byte, i int, r *Record, lead [][]byte, req []byte) {
	var quoted [2][]byte
	nQuoted, nBare := 0, 0
	for {
		t, ok := nextToken(line, i)
		if !ok {
			break
		}
		i = t.end
		switch {
		case t.key != nil:
			if keyIn(t.key, p.timeKeys) && !r.HasReqTime {
				r.ReqTimeUS, r.HasReqTime = parseTimeUS(t.val, p.fracDigits)
			} else if keyIn(t.key, p.upKeys) && !r.HasUpstreamTime {
				r.UpstreamTimeUS, r.HasUpstreamTime = sumTimesUS(t.val, p.fracDigits)
			}
		case t.quoted || t.bracketed:
			if nQuoted < len(quoted) {
				quoted[nQuoted] = t.val
			}
			nQuoted++
		case nBare == 0:
			if v, ok := parseTimeUS(t.val, p.fracDigits); ok || isDash(t.val) {
				r.ReqTimeUS, r.HasReqTime = v, ok
				nBare++
			}
		case nBare == 1:
			end := upstreamListEnd(line, t.start, 0)
			if v, ok := sumTimesUS(line[t.start:end], p.fracDigits); ok || isDash(t.val) {
				r.UpstreamTimeUS, r.HasUpstreamTime = v, ok
				nBare++
				i = end
			}
		}
	}
	p.setGroup(r, lead, req, quoted[:], nQuoted)
}

func (p *clfParser) setGroup(r *Record, lead [][]byte, req []byte, quoted [][]byte, nQuoted int) {
	var v []byte
	switch p.group {
	case clfNone:
		return
	case clfRemoteAddr:
		v = lead[0]
	case clfRemoteUser:
		v = lead[len(lead)-1]
	case clfMethod:
		if sp := bytes.IndexByte(req, ' '); sp >= 0 {
			v = req[:sp]
		} else {
			v = req
		}
	case clfReferer, clfUserAgent:
		k := int(p.group - clfReferer)
		if k >= nQuoted {
			return
		}
		v = quoted[k]
	}
	r.GroupValue, r.HasGroupValue = v, true
}

func isDash(b []byte) bool { return len(b) == 1 && b[0] == '-' }

func keyIn(k []byte, names []string) bool {
	for _, n := range names {
		if string(k) == n {
			return true
		}
	}
	return false
}

// upstreamListEnd returns where a list of upstream values starting at
// line[i] ends: members separated by ", " or " : ", each member a run of
// bytes other than space, comma and stop (0 for none).
func upstreamListEnd(line []byte, i int, stop byte) int {
	for {
		for i < len(line) && line[i] != ' ' && line[i] != ',' && (stop == 0 || line[i] != stop) {
			i++
		}
		switch {
		case i+1 < len(line) && line[i] == ',' && line[i+1] == ' ':
			i += 2
		case i+2 < len(line) && line[i] == ' ' && line[i+1] == ':' && line[i+2] == ' ':
			i += 3
		default:
			return i
		}
	}
}
