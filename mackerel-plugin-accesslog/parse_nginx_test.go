package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestCompileNginxLogFormat(t *testing.T) {
	for _, c := range []struct {
		in   string
		lits []string
		vars []string
	}{
		{ // nginx's built-in combined
			`$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`,
			[]string{"", " - ", " [", `] "`, `" `, " ", ` "`, `" "`, `"`},
			[]string{"remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent", "http_referer", "http_user_agent"},
		},
		{ // the main format of Debian's and the official packages' nginx.conf, as the directive
			"log_format  main  '$remote_addr - $remote_user [$time_local] \"$request\" '\n" +
				"                  '$status $body_bytes_sent \"$http_referer\" '\n" +
				"                  '\"$http_user_agent\" \"$http_x_forwarded_for\"';",
			[]string{"", " - ", " [", `] "`, `" `, " ", ` "`, `" "`, `" "`, `"`},
			[]string{"remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent", "http_referer", "http_user_agent", "http_x_forwarded_for"},
		},
		{ // escape=json with double-quoted parts and escaped quotes
			`log_format api escape=json "{\"status\":$status," "\"rt\":$request_time}";`,
			[]string{`{"status":`, `,"rt":`, `}`},
			[]string{"status", "request_time"},
		},
		{ // LTSV with \t, ${var} glued to text
			`'status:${status}\treqtime:$request_time\tvhost:${host}x'`,
			[]string{"status:", "\treqtime:", "\tvhost:", "x"},
			[]string{"status", "request_time", "host"},
		},
		{ // the nginx documentation's upstream_time example, unquoted
			`$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time"`,
			[]string{"", " - ", " [", `] "`, `" `, " ", ` "`, `" "`, `" rt=`, ` uct="`, `" uht="`, `" urt="`, `"`},
			[]string{"remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent", "http_referer", "http_user_agent", "request_time", "upstream_connect_time", "upstream_header_time", "upstream_response_time"},
		},
		{ // a bare paste starting with a quote stays as it is
			`"$request" $status`,
			[]string{`"`, `" `, ""},
			[]string{"request", "status"},
		},
	} {
		f, err := compileNginxLogFormat(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(f.lits, c.lits) || !reflect.DeepEqual(f.vars, c.vars) {
			t.Errorf("%q:\n got lits %q vars %q\nwant lits %q vars %q", c.in, f.lits, f.vars, c.lits, c.vars)
		}
	}
}

// renderNginxFormat writes f back as one single-quoted nginx.conf string.
func renderNginxFormat(f *nginxFormat) string {
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	var b strings.Builder
	b.WriteByte('\'')
	for i, v := range f.vars {
		b.WriteString(quote.Replace(f.lits[i]))
		b.WriteString("${" + v + "}")
	}
	b.WriteString(quote.Replace(f.lits[len(f.vars)]))
	b.WriteByte('\'')
	return b.String()
}

func FuzzNginxLogFormat(f *testing.F) {
	for _, s := range []string{
		benchNginxFormat,
		`log_format main '$remote_addr "$request" '  '$status';`,
		`log_format j escape=json '{"s":"$status"}';`,
		`'a:${status}\tb:$request_time'`,
		`$status${x`, `$$`, `'`, `"$a" "$b"`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nf, err := compileNginxLogFormat(s)
		if err != nil {
			return
		}
		if len(nf.lits) != len(nf.vars)+1 || len(nf.vars) == 0 {
			t.Fatalf("%q: %d literals for %d variables", s, len(nf.lits), len(nf.vars))
		}
		for i, v := range nf.vars {
			if v == "" || strings.IndexFunc(v, func(r rune) bool { return r > 0x7f || !isVarChar(byte(r)) }) >= 0 {
				t.Fatalf("%q: bad variable name %q", s, v)
			}
			if i > 0 && nf.lits[i] == "" {
				t.Fatalf("%q: $%s and $%s are adjacent", s, nf.vars[i-1], v)
			}
		}
		again, err := compileNginxLogFormat(renderNginxFormat(nf))
		if err != nil || !reflect.DeepEqual(again, nf) {
			t.Fatalf("%q: rendered as %q compiles to %+v, %v; want %+v", s, renderNginxFormat(nf), again, err, nf)
		}
		if _, err := newNginxParser(s, mustSpec(t, Fields{Status: nf.vars[0]})); err != nil {
			t.Fatalf("%q: parser for its own first variable: %v", s, err)
		}
	})
}

func mustSpec(t *testing.T, f Fields) fieldSpec {
	s, err := newFieldSpec(formatNginx, f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nginxEscape escapes a value as nginx's escape=default does.
func nginxEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			fmt.Fprintf(&b, `\x%02X`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func FuzzParseNginx(f *testing.F) {
	f.Add(benchNginxFormat, benchCombined, uint16(200), uint32(123), "curl/8", "/a")
	for _, l := range fixtureLines(f, "nginx.txt") {
		f.Add(benchNginxFormat, l, uint16(502), uint32(0), `a "quoted" \ agent`, "/x?y")
	}
	f.Add(`{"s":$status,"u":"$request_uri","rt":$request_time}`, []byte(`{"s":200,"u":"/a\"b","rt":0.1}`), uint16(499), uint32(5), "", "")
	roundTrip, err := NewParser("nginx", benchNginxFormat, Fields{GroupBy: "http_user_agent"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, format string, line []byte, status uint16, ms uint32, ua, path string) {
		if p, err := NewParser("nginx", format, Fields{}); err == nil {
			fuzzParser(t, p, line)
		}
		// A line nginx would write with the combined format and times
		// reads back as written, whatever the agent and the path hold.
		st := 100 + int(status)%500
		path = "/" + strings.NewReplacer(" ", "", "?", "").Replace(nginxEscape(path))
		ua = nginxEscape(ua)
		written := fmt.Sprintf(`192.0.2.1 - - [25/Nov/2026:12:00:00 +0900] "GET %s?q HTTP/1.1" %d 0 "-" "%s" %d.%03d 0.001, -`,
			path, st, ua, ms/1000, ms%1000)
		var r Record
		if err := roundTrip.Parse([]byte(written), &r); err != nil {
			t.Fatalf("%q: %v", written, err)
		}
		if r.Status != st || r.ReqTimeUS != int64(ms)*1000 || r.UpstreamTimeUS != 1000 ||
			string(r.Path) != path || string(r.GroupValue) != ua {
			t.Fatalf("%q read as %+v", written, r)
		}
	})
}
