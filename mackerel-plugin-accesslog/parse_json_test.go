package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// firstStatus decodes line with encoding/json and returns the text of the
// first top-level "status" value that is not null, "" or "-".
func firstStatus(line []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", false
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return "", false
		}
		if key != "status" {
			continue
		}
		switch v := v.(type) {
		case string:
			if v != "" && v != "-" {
				return v, true
			}
		case json.Number:
			return string(v), true
		case bool:
			return "?", true
		}
		// null, objects and arrays are passed over, as the scanner does
	}
	return "", false
}

func FuzzParseJSON(f *testing.F) {
	for _, l := range fixtureLines(f, "json.txt") {
		f.Add(l)
	}
	f.Add(benchJSON)
	p, err := NewParser("json", "", Fields{GroupBy: "host"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fuzzParser(t, p, line)
		// On valid JSON without escapes, the scanner agrees with
		// encoding/json about the status.
		trimmed := bytes.TrimLeft(line, " \t\r\n")
		if !json.Valid(line) || bytes.IndexByte(line, '\\') >= 0 || len(trimmed) == 0 || trimmed[0] != '{' {
			return
		}
		buf := append([]byte(nil), line...)
		var r Record
		err := p.Parse(buf, &r)
		if errors.Is(err, errSyntax) {
			t.Fatalf("valid JSON %q rejected: %v", line, err)
		}
		want, ok := firstStatus(line)
		st, good := parseStatus([]byte(want))
		switch {
		case !ok && !errors.Is(err, errNoStatus):
			t.Fatalf("%q: no status expected, got %d %v", line, r.Status, err)
		case ok && good && (err != nil || r.Status != st):
			t.Fatalf("%q: status %d expected, got %d %v", line, st, r.Status, err)
		case ok && !good && err == nil:
			t.Fatalf("%q: status %q accepted as %d", line, want, r.Status)
		}
	})
}
