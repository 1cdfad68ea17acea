package main

import (
	"bytes"
	"fmt"
	"strings"
)

// nginxFormat is a log_format string compiled once: literal separators and
// variables alternating, lits[i] before vars[i], lits[len(vars)] last.
type nginxFormat struct {
	lits []string
	vars []string
}

// compileNginxLogFormat translates what a user pastes from nginx.conf:
// the whole directive (`log_format main escape=json '…' '…';`), only its
// quoted strings (concatenated as nginx does, across lines), or the bare
// format text. Variables are `$name` or `${name}`.
func compileNginxLogFormat(s string) (*nginxFormat, error) {
	body := stripLogFormatDirective(s)
	if joined, ok := joinQuoted(body); ok {
		if f, err := splitNginxFormat(joined); err == nil {
			return f, nil
		}
	}
	// Not a sequence of quoted strings (or one whose concatenation makes
	// no sense, like "$a" "$b"): take the text itself as the format.
	return splitNginxFormat(nginxUnescape(body))
}

// stripLogFormatDirective removes `log_format NAME [escape=…]` and the
// final ';' when the user pasted the whole directive.
func stripLogFormatDirective(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	rest, ok := strings.CutPrefix(s, "log_format")
	if !ok || rest == "" || !isSpace(rest[0]) {
		return s
	}
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return s
	}
	rest = strings.TrimSpace(rest)
	rest = strings.TrimSpace(rest[len(fields[0]):]) // the format's name
	if strings.HasPrefix(rest, "escape=") {
		rest = strings.TrimSpace(rest[len(strings.Fields(rest)[0]):])
	}
	return rest
}

// joinQuoted concatenates a sequence of '…' or "…" strings separated by
// white space, applying nginx's escapes. ok is false when s is not such a
// sequence.
func joinQuoted(s string) (string, bool) {
	var out strings.Builder
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	for s != "" {
		q := s[0]
		if q != '\'' && q != '"' {
			return "", false
		}
		end := -1
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == q {
				end = i
				break
			}
		}
		if end < 0 {
			return "", false
		}
		out.WriteString(nginxUnescape(s[1:end]))
		s = strings.TrimSpace(s[end+1:])
	}
	return out.String(), true
}

// nginxUnescape applies the escapes nginx's configuration reader knows:
// \" \' \\ and \t \r \n; any other backslash is kept.
func nginxUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '"', '\'', '\\':
				b.WriteByte(s[i+1])
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case 'r':
				b.WriteByte('\r')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isVarChar(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// splitNginxFormat cuts the format text into literals and variables.
func splitNginxFormat(s string) (*nginxFormat, error) {
	f := &nginxFormat{}
	var lit strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		var name string
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("log_format %q: \"${\" at offset %d is not closed", s, i)
			}
			name = s[i+2 : i+2+end]
			i += end + 3
		} else {
			j := i + 1
			for j < len(s) && isVarChar(s[j]) {
				j++
			}
			name = s[i+1 : j]
			i = j
		}
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !isVarChar(byte(r)) }) >= 0 {
			return nil, fmt.Errorf("log_format %q: \"$\" at offset %d is not followed by a variable name", s, i)
		}
		if len(f.vars) > 0 && lit.Len() == 0 {
			return nil, fmt.Errorf("log_format %q: $%s follows $%s with nothing between them, so their values cannot be told apart",
				s, name, f.vars[len(f.vars)-1])
		}
		f.lits = append(f.lits, lit.String())
		f.vars = append(f.vars, name)
		lit.Reset()
	}
	f.lits = append(f.lits, lit.String())
	if len(f.vars) == 0 {
		return nil, fmt.Errorf("log_format %q has no variables", s)
	}
	return f, nil
}

// nginxParser parses lines by a compiled log_format: it matches the
// literals in order, each variable's value being what lies between them.
// A literal starting with a quote is not matched after a backslash, so
// escape=json values ("a \"quoted\" word") are read whole. Upstream
// variables and X-Forwarded-For may hold lists ("0.1, 0.2 : 0.3") even
// where the literal after them is a space. It stops after the last variable it needs, so trailing
// fields added to lines later do not make them malformed.
type nginxParser struct {
	lits       [][]byte
	vars       []nginxVar
	last       int // index of the last variable that feeds a slot
	wanted     uint8
	fracDigits int
}

type nginxVar struct {
	field *fieldName // nil when the variable is not wanted
	list  bool       // a value that may be a ", " or " : " separated list
}

// isListVar tells the variables whose values nginx writes as lists: the
// $upstream_* ones (one member per upstream tried, " : " between internal
// redirects) and X-Forwarded-For ("client, proxy1, proxy2").
func isListVar(name string) bool {
	return strings.HasPrefix(name, "upstream_") || name == "http_x_forwarded_for" || name == "proxy_add_x_forwarded_for"
}

func newNginxParser(logFormat string, spec fieldSpec) (*nginxParser, error) {
	f, err := compileNginxLogFormat(logFormat)
	if err != nil {
		return nil, err
	}
	p := &nginxParser{fracDigits: spec.fracDigits, last: -1}
	for _, l := range f.lits {
		p.lits = append(p.lits, []byte(l))
	}
	names := spec.fieldNames()
	for i, v := range f.vars {
		nv := nginxVar{list: isListVar(v)}
		for j := range names {
			if names[j].name == v {
				nv.field = &names[j]
				p.last = i
				for sl := slot(0); sl < numSlots; sl++ {
					if names[j].prio[sl] != noPrio {
						p.wanted |= 1 << sl
					}
				}
			}
		}
		p.vars = append(p.vars, nv)
	}
	if p.wanted&(1<<slotStatus) == 0 {
		return nil, fmt.Errorf("log_format %q has no $%s, which every line needs", logFormat, spec.names[slotStatus][0])
	}
	if g := spec.names[slotGroup]; len(g) > 0 && p.wanted&(1<<slotGroup) == 0 {
		return nil, fmt.Errorf("--group-by %s: log_format %q has no $%s", g[0], logFormat, g[0])
	}
	// Only names in the format can be found: the early exit must not wait
	// for a preferred name the format does not have.
	return p, nil
}

func (p *nginxParser) Parse(line []byte, r *Record) error {
	line = trimCR(line)
	var fd found
	fd.init(0)
	if !bytes.HasPrefix(line, p.lits[0]) {
		return errSyntax
	}
	pos := len(p.lits[0])
	for i := 0; i <= p.last; i++ {
		v := &p.vars[i]
		next := p.lits[i+1]
		end := -1
		switch {
		case len(next) == 0: // the last variable: the rest of the line
			end = len(line)
		case v.list:
			end = upstreamListEnd(line, pos, next[0])
			if !bytes.HasPrefix(line[end:], next) {
				end = findLiteral(line, pos, next)
			}
		default:
			end = findLiteral(line, pos, next)
		}
		if end < 0 {
			return errSyntax
		}
		if v.field != nil {
			fd.offer(v.field, line[pos:end])
		}
		pos = end + len(next)
	}
	return fd.fill(r, p.fracDigits)
}

// findLiteral returns the index of lit in line at or after from, or -1.
// A match whose first byte is a quote preceded by an odd number of
// backslashes is an escaped quote inside a value and is passed over.
func findLiteral(line []byte, from int, lit []byte) int {
	start := from
	for from <= len(line) {
		var k int
		if len(lit) == 1 {
			k = bytes.IndexByte(line[from:], lit[0])
		} else {
			k = bytes.Index(line[from:], lit)
		}
		if k < 0 {
			return -1
		}
		k += from
		if lit[0] != '"' {
			return k
		}
		if !escapedAt(line, start, k) {
			return k
		}
		from = k + 1
	}
	return -1
}
