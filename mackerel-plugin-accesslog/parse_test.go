package main

import (
	"bufio"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// The cases in testdata/parse/*.txt are read line by line:
//
//	format: NAME             following lines use --format NAME (fields reset)
//	nginx: TEXT              following lines use --nginx-log-format TEXT (fields reset)
//	nginxq: "GO-QUOTED"      the same, for formats with newlines or tabs
//	fields: k=v …            status-key time-key(a,b) upstream-time-key bytes-key path-key group-by time-unit
//	line: TEXT               a log line (the rest of the line, as is)
//	lineq: "GO-QUOTED"       a log line with tabs or bytes that a text file hides
//	want: k=v …              status time upstream bytes path group (values may be Go-quoted);
//	                         a key left out means "no value"
//	want: error              the line is malformed
//	newparser-error: TEXT    NewParser fails with an error containing TEXT
//
// Blank lines and lines starting with '#' are comments.
func TestParseFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runFixture(t, file) })
	}
}

func runFixture(t *testing.T, file string) {
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var (
		format, nginx string
		fields        Fields
		line          []byte
		lineNo        int
		cases         int
	)
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lineNo++
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, val, ok := strings.Cut(text, ": ")
		if !ok {
			key, val = strings.TrimSuffix(text, ":"), ""
		}
		where := fmt.Sprintf("%s:%d", file, lineNo)
		switch key {
		case "format":
			format, nginx, fields = val, "", Fields{}
		case "nginx":
			format, nginx, fields = "nginx", val, Fields{}
		case "nginxq":
			format, nginx, fields = "nginx", unquote(t, where, val), Fields{}
		case "fields":
			fields = parseFixtureFields(t, where, val)
		case "line":
			line = []byte(val)
		case "lineq":
			line = []byte(unquote(t, where, val))
		case "newparser-error":
			_, err := NewParser(format, nginx, fields)
			if err == nil || !strings.Contains(err.Error(), val) {
				t.Errorf("%s: NewParser error %v, want one containing %q", where, err, val)
			}
			cases++
		case "want":
			p, err := NewParser(format, nginx, fields)
			if err != nil {
				t.Errorf("%s: NewParser: %v", where, err)
				continue
			}
			var r Record
			err = p.Parse(append([]byte(nil), line...), &r)
			got := describeRecord(r, err)
			want := normaliseWant(t, where, val)
			if got != want {
				t.Errorf("%s: line %q\n got: %s\nwant: %s", where, line, got, want)
			}
			cases++
		default:
			t.Fatalf("%s: unknown directive %q", where, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cases == 0 {
		t.Errorf("%s: no cases", file)
	}
}

func unquote(t *testing.T, where, s string) string {
	u, err := strconv.Unquote(s)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return u
}

func parseFixtureFields(t *testing.T, where, s string) Fields {
	var f Fields
	for _, kv := range strings.Fields(s) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "status-key":
			f.Status = v
		case "time-key":
			f.Times = strings.Split(v, ",")
		case "upstream-time-key":
			f.UpstreamTime = v
		case "bytes-key":
			f.Bytes = v
		case "path-key":
			f.Path = v
		case "group-by":
			f.GroupBy = v
		case "time-unit":
			f.TimeUnit = v
		default:
			t.Fatalf("%s: unknown field %q", where, k)
		}
	}
	return f
}

// describeRecord renders r in the order and syntax of a fixture's want.
func describeRecord(r Record, err error) string {
	if err != nil {
		return "error"
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("status=%d", r.Status))
	if r.HasReqTime {
		parts = append(parts, fmt.Sprintf("time=%d", r.ReqTimeUS))
	}
	if r.HasUpstreamTime {
		parts = append(parts, fmt.Sprintf("upstream=%d", r.UpstreamTimeUS))
	}
	if r.HasBytesSent {
		parts = append(parts, fmt.Sprintf("bytes=%d", r.BytesSent))
	}
	if r.Path != nil {
		parts = append(parts, "path="+quoteIfNeeded(string(r.Path)))
	}
	if r.HasGroupValue {
		parts = append(parts, "group="+quoteIfNeeded(string(r.GroupValue)))
	}
	return strings.Join(parts, " ")
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \"\\") || strconv.Quote(s) != `"`+s+`"` {
		return strconv.Quote(s)
	}
	return s
}

// normaliseWant reorders a want line's keys like describeRecord.
func normaliseWant(t *testing.T, where, s string) string {
	if strings.TrimSpace(s) == "error" {
		return "error"
	}
	vals := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("%s: want %q: expected key=value", where, s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			v, rest = unquote(t, where, q), rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		vals[k] = v
		s = rest
	}
	var parts []string
	for _, k := range []string{"status", "time", "upstream", "bytes", "path", "group"} {
		if v, ok := vals[k]; ok {
			if k == "path" || k == "group" {
				v = quoteIfNeeded(v)
			}
			parts = append(parts, k+"="+v)
			delete(vals, k)
		}
	}
	for k := range vals {
		t.Fatalf("%s: unknown want key %q", where, k)
	}
	return strings.Join(parts, " ")
}

func TestNewParserErrors(t *testing.T) {
	for _, c := range []struct {
		format, nginx string
		f             Fields
		want          string
	}{
		{"xml", "", Fields{}, `unknown --format "xml"`},
		{"json", "$status", Fields{}, "--format json and --nginx-log-format"},
		{"nginx", "", Fields{}, "--format nginx needs --nginx-log-format"},
		{"ltsv", "", Fields{TimeUnit: "min"}, `unknown --time-unit "min"`},
		{"combined", "", Fields{GroupBy: "vhost"}, `--group-by "vhost"`},
		{"", "$remote_addr $body_bytes_sent", Fields{}, "has no $status"},
		{"", "$status $request_time", Fields{GroupBy: "host"}, "--group-by host"},
		{"", "$status$request_time", Fields{}, "$request_time follows $status"},
		{"", "$status ${request_time", Fields{}, "is not closed"},
		{"", "$status $ x", Fields{}, "not followed by a variable name"},
		{"", "no variables", Fields{}, "has no variables"},
	} {
		_, err := NewParser(c.format, c.nginx, c.f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewParser(%q, %q, %+v) = %v, want an error containing %q", c.format, c.nginx, c.f, err, c.want)
		}
	}
}

func TestParseTimeUS(t *testing.T) {
	for _, c := range []struct {
		in     string
		digits int
		want   int64
		ok     bool
	}{
		{"0.123", 6, 123000, true},
		{"0.000", 6, 0, true},
		{"12.5", 3, 12500, true},
		{"1234", 0, 1234, true},
		{"1234.5", 0, 1235, true}, // half up
		{"1234.4", 0, 1234, true},
		{"0.0000005", 6, 1, true},
		{"0.0000004999", 6, 0, true},
		{"1.", 6, 1000000, true},
		{".5", 6, 500000, true},
		{"60", 6, 60000000, true},
		{"0.1234567", 6, 123457, true},
		{"-", 6, 0, false},
		{"", 6, 0, false},
		{".", 6, 0, false},
		{"-0.1", 6, 0, false},
		{"+1", 6, 0, false},
		{"1e3", 6, 0, false},
		{"0.1.2", 6, 0, false},
		{"0,1", 6, 0, false},
		{" 1", 6, 0, false},
		{"1 ", 6, 0, false},
		{"99999999999999999999", 6, 0, false},
		{"1125899906", 6, 1125899906000000, true},
		{"1125900000", 6, 0, false}, // over maxTimeUS
	} {
		got, ok := parseTimeUS([]byte(c.in), c.digits)
		if got != c.want || ok != c.ok {
			t.Errorf("parseTimeUS(%q, %d) = %d, %v; want %d, %v", c.in, c.digits, got, ok, c.want, c.ok)
		}
	}
}

func TestSumTimesUS(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0.012, 0.034", 46000, true},
		{"0.1 : 0.2", 300000, true},
		{"0.012, 0.034 : 0.100", 146000, true},
		{"-, 0.034", 34000, true},
		{"- : -", 0, false},
		{"0.1, x", 0, false},
		{"0.5", 500000, true},
		{"0.1,", 100000, true},
		{",", 0, false},
	} {
		got, ok := sumTimesUS([]byte(c.in), 6)
		if got != c.want || ok != c.ok {
			t.Errorf("sumTimesUS(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestRequestPath(t *testing.T) {
	for in, want := range map[string]string{
		"GET /p?q HTTP/1.1":  "/p",
		"/a/b?x=1&y=2":       "/a/b",
		"/plain":             "/plain",
		"GET /http09":        "/http09",
		"-":                  "",
		"":                   "",
		"GET ?only HTTP/1.1": "",
	} {
		if got := string(requestPath([]byte(in))); got != want {
			t.Errorf("requestPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// refTimeUS is parseTimeUS done with exact rationals, for the fuzz test.
func refTimeUS(s string, digits int) (int64, bool) {
	for i, c := range s {
		if !(c >= '0' && c <= '9' || c == '.') || (c == '.' && strings.IndexByte(s[i+1:], '.') >= 0) {
			return 0, false
		}
	}
	if strings.Trim(s, ".") == "" {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(strings.TrimSuffix(s, "."))
	if strings.HasPrefix(s, ".") {
		r, ok = new(big.Rat).SetString("0" + s)
	}
	if !ok {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(pow10[digits]))
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // floor, r >= 0
	if !q.IsInt64() || q.Int64() > maxTimeUS {
		return 0, false
	}
	return q.Int64(), true
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"0.123", "12.5", "1234", "-", "", "1.0000005", "0.0000004", "999999999.9999999"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, unit uint8) {
		digits := []int{0, 3, 6}[unit%3]
		got, ok := parseTimeUS([]byte(s), digits)
		want, wantOK := refTimeUS(s, digits)
		if ok != wantOK || got != want {
			t.Fatalf("parseTimeUS(%q, %d) = %d, %v; exact: %d, %v", s, digits, got, ok, want, wantOK)
		}
		sum, sok := sumTimesUS([]byte(s), digits)
		if sok && sum < 0 {
			t.Fatalf("sumTimesUS(%q) = %d", s, sum)
		}
	})
}

// checkRecord asserts what every parser guarantees for any input.
func checkRecord(t *testing.T, line []byte, r *Record, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, errNoStatus) && !errors.Is(err, errBadStatus) && !errors.Is(err, errSyntax) {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if r.Status < 100 || r.Status > 599 {
		t.Fatalf("status %d accepted from %q", r.Status, line)
	}
	if r.ReqTimeUS < 0 || r.UpstreamTimeUS < 0 || r.BytesSent < 0 {
		t.Fatalf("negative value in %+v from %q", r, line)
	}
	if (!r.HasReqTime && r.ReqTimeUS != 0) || (!r.HasUpstreamTime && r.UpstreamTimeUS != 0) || (!r.HasBytesSent && r.BytesSent != 0) {
		t.Fatalf("value without its Has flag in %+v", r)
	}
	if !within(r.Path, line) || !within(r.GroupValue, line) {
		t.Fatalf("Path or GroupValue does not point into the line: %+v", r)
	}
	if !r.HasGroupValue && r.GroupValue != nil {
		t.Fatalf("GroupValue without HasGroupValue: %+v", r)
	}
}

// within reports whether b is empty or lies inside line's memory.
func within(b, line []byte) bool {
	if len(b) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(line)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(line))
}

// fuzzParser runs p on a copy of line (the JSON parser may rewrite it) and
// checks the invariants.
func fuzzParser(t *testing.T, p Parser, line []byte) {
	buf := append([]byte(nil), line...)
	var r Record
	err := p.Parse(buf, &r)
	checkRecord(t, buf, &r, err)
}

// fixtureLines returns the log lines of the fixtures in file, as seeds.
func fixtureLines(f *testing.F, file string) [][]byte {
	data, err := os.ReadFile(filepath.Join("testdata/parse", file))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "line: "); ok {
			out = append(out, []byte(v))
		} else if v, ok := strings.CutPrefix(l, "lineq: "); ok {
			if u, err := strconv.Unquote(v); err == nil {
				out = append(out, []byte(u))
			}
		}
	}
	return out
}

// mustParsers returns a parser of format for each of fields.
func mustParsers(tb testing.TB, format string, fields ...Fields) []Parser {
	var out []Parser
	for _, fl := range fields {
		p, err := NewParser(format, "", fl)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// Every "d.ddd" (nginx's $request_time), which parseTimeUS reads without
// its loop, gives the exact value, in each unit.
func TestParseTimeMilliseconds(t *testing.T) {
	for v := 0; v < 10000; v++ {
		s := fmt.Sprintf("%d.%03d", v/1000, v%1000)
		for _, digits := range []int{0, 3, 6} {
			got, ok := parseTimeUS([]byte(s), digits)
			want, wantOK := refTimeUS(s, digits)
			if ok != wantOK || got != want {
				t.Fatalf("parseTimeUS(%q, %d) = %d, %v; exact: %d, %v", s, digits, got, ok, want, wantOK)
			}
		}
	}
	for _, s := range []string{"0.12a", "a.123", "0,123", "0.1234", "-.123", "0.-12"} {
		got, ok := parseTimeUS([]byte(s), 6)
		want, wantOK := refTimeUS(s, 6)
		if ok != wantOK || got != want {
			t.Fatalf("parseTimeUS(%q, 6) = %d, %v; exact: %d, %v", s, got, ok, want, wantOK)
		}
	}
}
