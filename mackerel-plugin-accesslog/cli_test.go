package main

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every bad flag or value is one line on stderr that names it, with exit 2,
// and nothing on stdout (mackerel-agent reads stdout as metrics).
func TestBadValuesAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml", "x.log"}, `--format "xml": want one of auto, ltsv, json, combined, common, apache, nginx`},
		{[]string{"-format=xml", "x.log"}, `--format "xml": want one of`},
		{[]string{"-formt=apache", "x.log"}, "unknown flag -formt"},
		{[]string{"--time-unit", "h", "x.log"}, `--time-unit "h": want s`},
		{[]string{"--fleet-timeout", "soon", "x.log"}, `--fleet-timeout: "soon" is not a duration`},
		{[]string{"--fleet-window", "-60", "x.log"}, `--fleet-window: "-60" is negative`},
		{[]string{"--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web", "--fleet-timeout", "0", "x.log"}, "--fleet-timeout 0s: want more than 0s"},
		{[]string{"--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web", "--fleet-window", "1.5", "x.log"}, "--fleet-window 1.5s: want whole seconds"},
		{[]string{"--workers", "-1", "x.log"}, "--workers -1: want 0"},
		{[]string{"--workers", "many", "x.log"}, "--workers"},
		{[]string{"--max-groups", "0", "x.log"}, "--max-groups 0: want at least 1"},
		{[]string{"--max-line-bytes", "10", "x.log"}, "--max-line-bytes 10: want 64 to 67108864"},
		{[]string{"--group", "a=(", "x.log"}, `--group "a=("`},
		{[]string{}, "no access log given: name it with --file PATH or as an argument"},
		{[]string{"--posfile", "p.pos", "a.log", "b.log"}, "--posfile takes exactly one log file"},
		{[]string{"--posfile", "p.pos", "--state-dir", "d", "a.log"}, "--posfile excludes --no-posfile and --state-dir"},
		{[]string{"--fleet-service", "web", "x.log"}, "--fleet-service, --fleet-host and --fleet-redis-ca-file need --fleet-redis"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		line := stderr.String()
		switch {
		case code != 2:
			t.Errorf("%q: exit %d, want 2 (stderr %q)", c.args, code, line)
		case stdout.Len() != 0:
			t.Errorf("%q: stdout %q", c.args, stdout.String())
		case strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, binaryName+": ") || !strings.Contains(line, c.want):
			t.Errorf("%q: %q, want one line with %q", c.args, line, c.want)
		case strings.Contains(line, "strconv") || strings.Contains(line, "expected"):
			t.Errorf("%q: Go internals in %q", c.args, line)
		}
	}
}

// Durations follow the suite's rules: a bare number is seconds.
func TestFleetDurationsTakeSeconds(t *testing.T) {
	var o options
	_, out := program.Parse(&o, []string{"--fleet-timeout", "3", "--fleet-window", "120", "x.log"})
	if out.Done || o.FleetTimeout.D() != 3*time.Second || o.FleetWindow.D() != 2*time.Minute {
		t.Fatalf("%+v: timeout %v window %v", out, o.FleetTimeout, o.FleetWindow)
	}
	o = options{}
	if _, out := program.Parse(&o, []string{"x.log"}); out.Done || o.FleetTimeout.D() != 5*time.Second || o.FleetWindow.D() != time.Minute {
		t.Fatalf("defaults: %+v: timeout %v window %v", out, o.FleetTimeout, o.FleetWindow)
	}
}

// A --fleet-timeout the agent would not wait for is said on stderr, once,
// and does not stop the run; below it, or without --fleet-redis, nothing.
func TestFleetTimeoutAboveTheAgentsWarns(t *testing.T) {
	redis := []string{"--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web", "x.log"}
	for _, c := range []struct {
		args []string
		warn bool
	}{
		{append([]string{"--fleet-timeout", "30"}, redis...), true},
		{append([]string{"--fleet-timeout", "1m"}, redis...), true},
		{append([]string{"--fleet-timeout", "29s"}, redis...), false},
		{[]string{"--fleet-timeout", "1m", "x.log"}, false},
	} {
		_, out := parseCommandLine(c.args)
		if out.Done {
			t.Fatalf("%q: %+v", c.args, out)
		}
		if got := strings.Count(out.Stderr, "warning: --fleet-timeout"); got != map[bool]int{true: 1, false: 0}[c.warn] {
			t.Errorf("%q: stderr %q", c.args, out.Stderr)
		}
	}
}

// --help is the manual: every flag, the metrics by their real names, the
// exit codes and an example, without the doubled default of issue 13.
func TestHelpIsTheManual(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	help := stdout.String()
	long := map[string]bool{}
	addLongNames(long, reflect.TypeOf(options{}))
	if len(long) < 25 {
		t.Fatalf("only %d long flags found: %v", len(long), long)
	}
	for name := range long {
		if !strings.Contains(help, "--"+name) {
			t.Errorf("--help does not list --%s", name)
		}
	}
	for _, want := range []string{"skipped.bytes", "lines.overlong_count", "latency.", "fleet.pending_count", "Exit codes", "Example", "-format=apache"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, bad := range []string{"skipped_bytes", "(default: 0)", ") (default:"} {
		if strings.Contains(help, bad) {
			t.Errorf("--help says %q:\n%s", bad, help)
		}
	}
}

// The README's flag tables list every flag.
func TestReadmeListsEveryFlag(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	long := map[string]bool{}
	addLongNames(long, reflect.TypeOf(options{}))
	for name := range long {
		if !strings.Contains(string(b), "`--"+name) {
			t.Errorf("README.md does not list --%s", name)
		}
	}
}

// Whatever the command line, parsing never panics, and a refusal is one
// line on stderr with exit 2 and nothing on stdout.
func FuzzCommandLine(f *testing.F) {
	for _, seed := range []string{
		"x.log", "-format=apache\x00x.log", "--format\x00xml", "-formt=x", "--fleet-timeout\x001e11\x00x.log",
		"--group\x00a=(\x00x.log", "--posfile\x00p\x00a\x00b", "--\x00-x.log", "-h", "--help\x00x", "--version",
		"-f\x00a.log\x00--workers\x00-1", "--metric-key-prefix\x00a..b\x00x.log", "--nginx-log-format\x00$status\x00x.log",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		opts, out := parseCommandLine(args)
		if !out.Done {
			if opts == nil || len(opts.Files) == 0 {
				t.Fatalf("%q: accepted without a file", args)
			}
			opts.formatParsers() // must not panic either
			return
		}
		switch out.Code {
		case 0: // --help or --version
			if out.Stdout == "" || out.Stderr != "" {
				t.Fatalf("%q: %+v", args, out)
			}
		case 2:
			if out.Stdout != "" || strings.Count(out.Stderr, "\n") != 1 || !strings.HasPrefix(out.Stderr, binaryName+": ") || !strings.HasSuffix(out.Stderr, "\n") {
				t.Fatalf("%q: %+v", args, out)
			}
		default:
			t.Fatalf("%q: exit %d", args, out.Code)
		}
	})
}

// --help never splits a word of a flag's description: go-flags hyphenates a
// word longer than the description column ("mackerel-plu-" / "gin-
// accesslog.d"), which breaks a path a user would copy.
func TestHelpSplitsNoWord(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	printed := map[string]bool{}
	for _, w := range strings.Fields(stdout.String()) {
		printed[w] = true
	}
	var descs []string
	addDescriptions(&descs, reflect.TypeOf(options{}))
	for _, d := range descs {
		for _, w := range strings.Fields(d) {
			if !printed[w] {
				t.Errorf("--help splits %q of %q", w, d)
			}
		}
	}
}

func addDescriptions(out *[]string, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			addDescriptions(out, f.Type)
		} else if d := f.Tag.Get("description"); d != "" {
			*out = append(*out, d)
		}
	}
}
