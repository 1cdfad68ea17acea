package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func parseString(t testing.TB, text string) (optionValues, error) {
	t.Helper()
	into := optionValues{}
	err := parseOptions([]byte(text), "my.cnf", clientGroup, into, func(string, string) error { return nil })
	return into, err
}

func TestParseOptionsValues(t *testing.T) {
	cases := []struct{ line, want string }{
		{`k = v`, "v"},
		{`k=v # comment`, "v"},
		{`k = "a # b"`, "a # b"},
		{`k = 'a;b'`, "a;b"},
		{`k = a;b`, "a;b"},
		{`k = "  padded  "`, "  padded  "},
		{`k = a\tb\nc\rd\be\sf\\g`, "a\tb\nc\rd\be f\\g"},
		{`k = a\qb`, `a\qb`},
		{`k = "say \"hi\""`, `say "hi"`},
		{`k = 'it\'s'`, "it's"},
		{`k = "unterminated`, `"unterminated`},
		{`k = a#b`, "a"},
		{`k = x"y#z`, `x"y#z`},
		{`k =`, ""},
		{"k = v\r", "v"},
		{`k = a = b`, "a = b"},
	}
	for _, tc := range cases {
		got, err := parseString(t, "[client]\n"+tc.line+"\n")
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if v, ok := got.get("k"); !ok || v != tc.want {
			t.Errorf("%q: got %q (%v), want %q", tc.line, v, ok, tc.want)
		}
	}
}

func TestParseOptionsGroupsAndKeys(t *testing.T) {
	got, err := parseString(t, "[mysqld]\nuser=mysql\n[Client]\nloose_ssl_ca=/ca.pem\nuser=app\npassword\n[mysql]\nhost=other\n")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.get("user"); v != "app" {
		t.Errorf("user %q: only [client] counts", v)
	}
	if _, ok := got.get("host"); ok {
		t.Error("host from [mysql] read")
	}
	if v, _ := got.get("ssl-ca"); v != "/ca.pem" {
		t.Errorf("loose_ssl_ca not read as ssl-ca: %q", v)
	}
	if _, ok := got.get("password"); ok {
		t.Error("a bare password counts as set")
	}
}

// TestParseOptionsErrorsHideTheLine: an error names the file and the line
// number, never the text, which may be a password.
func TestParseOptionsErrorsHideTheLine(t *testing.T) {
	cases := map[string]string{
		"password=Secret1\n":                "my.cnf:1: option before any [group]",
		"[client\npassword=Secret1\n":       "my.cnf:1: group header without ']'",
		"[client]\n!Secret1 x\n":            "my.cnf:2: unknown directive (want !include FILE or !includedir DIR)",
		"[client]\n# ok\n\n[Secret1\nx=1\n": "my.cnf:4: group header without ']'",
	}
	for text, want := range cases {
		_, err := parseString(t, text)
		if err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "Secret1") {
			t.Errorf("%q: error shows the text: %v", text, err)
		}
	}
}

func TestReadOptionFileIncludes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("conf.d/10.cnf", "[client]\nuser=from10\nport=10\n")
	write("conf.d/20.cnf", "[client]\nuser=from20\n")
	write("conf.d/ignored.txt", "[client]\nuser=ignored\n")
	write("inc.cnf", "[client]\nhost=included\nsocket=/inc.sock\n")
	main := write("my.cnf", "[client]\nsocket=/main.sock\n!include "+filepath.Join(dir, "inc.cnf")+
		"\n!include "+filepath.Join(dir, "missing.cnf")+"\n!includedir "+filepath.Join(dir, "conf.d")+"\nport=99\n")
	got := optionValues{}
	if err := readOptionFile(main, clientGroup, got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"user": "from20", "host": "included", "socket": "/inc.sock", "port": "99"}
	for k, w := range want {
		if v, _ := got.get(k); v != w {
			t.Errorf("%s = %q, want %q", k, v, w)
		}
	}

	loop := write("loop.cnf", "[client]\n!include "+filepath.Join(dir, "loop.cnf")+"\n")
	if err := readOptionFile(loop, clientGroup, optionValues{}); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("include loop: %v", err)
	}
	open := write("open.cnf", "[client]\nuser=anyone\n")
	if err := os.Chmod(open, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := readOptionFile(open, clientGroup, optionValues{}); err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("world-writable file: %v", err)
	}
	if err := readOptionFile(filepath.Join(dir, "absent.cnf"), clientGroup, optionValues{}); err == nil {
		t.Error("a missing defaults file is not an error")
	}
}

// TestParseOptionsLikeMyPrintDefaults reads testdata/tricky.cnf with the
// check's parser and with MariaDB's my_print_defaults, and compares.
func TestParseOptionsLikeMyPrintDefaults(t *testing.T) {
	tool := testenv.RequireCommand(t, "my_print_defaults")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "--defaults-file=testdata/tricky.cnf", clientGroup).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kv := strings.TrimPrefix(sc.Text(), "--")
		k, v, _ := strings.Cut(kv, "=")
		want[normaliseKey(k)] = v
	}
	got := optionValues{}
	if err := readOptionFile("testdata/tricky.cnf", clientGroup, got); err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		if v, ok := got[k]; !ok || v.value != w {
			t.Errorf("%s: check reads %q (present %v), my_print_defaults %q", k, v.value, ok, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: read by the check, not by my_print_defaults", k)
		}
	}
}

// quoteValue writes v so that parseOptions reads it back unchanged.
func quoteValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\b", `\b`)
	return `"` + r.Replace(v) + `"`
}

var parseErrorRE = regexp.MustCompile(`^my\.cnf:\d+: (option before any \[group\]|group header without '\]'|unknown directive \(want !include FILE or !includedir DIR\))$`)

func FuzzParseOptions(f *testing.F) {
	for _, seed := range []string{
		"[client]\nuser=a\npassword=\"p#w\"\n",
		"[client]\nk = 'x' y 'z'\nb = \"a\\\"#b\"\n!include x.cnf\n",
		"[client\n", "user=x\n", "[client]\nk=a\\\n", "# only\n; comments\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseString(t, string(data))
		if err != nil {
			// Errors are one of a few fixed texts: nothing of the input leaks.
			if !parseErrorRE.MatchString(err.Error()) {
				t.Fatalf("error %q", err)
			}
			return
		}
		// Every value read survives being written back quoted.
		for k, v := range got {
			if v.bare || strings.ContainsAny(k, "#'\"") {
				continue
			}
			again, err := parseString(t, "[client]\nk = "+quoteValue(v.value)+"\n")
			if err != nil {
				t.Fatalf("%q: %v", v.value, err)
			}
			if r, _ := again.get("k"); r != v.value {
				t.Fatalf("value %q written as %s read back as %q", v.value, quoteValue(v.value), r)
			}
		}
	})
}
