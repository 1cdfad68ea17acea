package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

type Shared struct {
	Timeout Duration `long:"timeout" default:"10s" value-name:"DURATION" description:"bound"`
	Mode    string   `long:"mode" default:"a" choice:"a" choice:"b" description:"mode"`
	Version
}

func (s *Shared) Validate() error {
	if s.Timeout <= 0 {
		return errors.New("--timeout must be above 0")
	}
	return nil
}

func (s *Shared) Warnings() []string {
	if s.Timeout.D() > 30*time.Second {
		return []string{"--timeout " + s.Timeout.String() + " is above 30s"}
	}
	return nil
}

type testOpts struct {
	Port    int     `long:"port" short:"p" value-name:"PORT" description:"port"`
	Ratio   float64 `long:"ratio" description:"ratio"`
	Verbose bool    `long:"verbose" description:"more"`
	Name    string  `long:"name" description:"name"`
	Shared
}

func (o *testOpts) Validate() error {
	if o.Port < 0 {
		return errors.New("--port must be 0 or more")
	}
	return nil
}

var prog = Program{
	Name: "test-bin", Version: "1.2", Summary: "Tests the parser.",
	Manual: "Exit codes:\n  0 OK\n  2 bad input",
	Hints:  map[string]string{"P": "the password comes from PW_FILE"},
}

func parse(args ...string) (testOpts, []string, Outcome) {
	var o testOpts
	rest, out := prog.Parse(&o, args)
	return o, rest, out
}

func TestParseOK(t *testing.T) {
	o, rest, out := parse("--name", "x", "--timeout", "5", "-p", "80")
	if out.Done || out.Stdout != "" || out.Stderr != "" || len(rest) != 0 {
		t.Fatalf("outcome %+v rest %v", out, rest)
	}
	if o.Timeout.D() != 5*time.Second || o.Port != 80 || o.Mode != "a" {
		t.Errorf("parsed %+v", o)
	}
}

// Every bad input is one line on stderr, exit 2, naming the flag and the
// value, with no Go type name or strconv prose.
func TestBadInputIsOneLineInUserWords(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--name", "x", "--nothing-like-it"}, "test-bin: unknown flag --nothing-like-it (see --help)\n"},
		{[]string{"--name", "x", "-P", "pw"}, "test-bin: unknown flag -P: the password comes from PW_FILE (see --help)\n"},
		{[]string{"--name", "x", "--timout", "5"}, "test-bin: unknown flag --timout: did you mean --timeout? (see --help)\n"},
		{[]string{"--name", "x", "--port", "abc"}, `test-bin: --port "abc": want a whole number (PORT) (see --help)` + "\n"},
		{[]string{"--name", "x", "--port", "99999999999999999999"}, `test-bin: --port "99999999999999999999" is out of range: want a whole number that fits (PORT) (see --help)` + "\n"},
		{[]string{"--name", "x", "--ratio", "x"}, `test-bin: --ratio "x": want a number (see --help)` + "\n"},
		{[]string{"--name", "x", "--timeout", "soon"}, `test-bin: --timeout: "soon" is not a duration: want seconds (10) or a number with a unit (10s, 1500ms, 2m) (see --help)` + "\n"},
		{[]string{"--name", "x", "--timeout", "0"}, "test-bin: --timeout must be above 0 (see --help)\n"},
		{[]string{"--name", "x", "--timeout", "NaN"}, `test-bin: --timeout: "NaN" is not a duration: want seconds (10) or a number with a unit (10s, 1500ms, 2m) (see --help)` + "\n"},
		{[]string{"--name", "x", "--timeout", "1e11"}, `test-bin: --timeout: "1e11" is too long: at most 8760h (see --help)` + "\n"},
		{[]string{"--name", "x", "--timeout", "-1"}, `test-bin: --timeout: "-1" is negative: want 0 or more (see --help)` + "\n"},
		{[]string{"--name", "x", "--timeout", "--port"}, "test-bin: --timeout needs a value, but --port follows it (see --help)\n"},
		{[]string{"--name", "x", "--timeout=-1"}, `test-bin: --timeout: "-1" is negative: want 0 or more (see --help)` + "\n"},
		{[]string{"--name", "x", "--timeout"}, "test-bin: --timeout needs a value (see --help)\n"},
		{[]string{"--name", "x", "--mode", "c"}, `test-bin: --mode "c": want a or b (see --help)` + "\n"},
		{[]string{"--name", "x", "--verbose=yes"}, "test-bin: --verbose takes no value: give it alone to turn it on (see --help)\n"},
		{[]string{"--name", "x", "stray"}, `test-bin: unexpected argument "stray": this command takes flags only (see --help)` + "\n"},
		{[]string{"--name", "x", "--port=-5"}, "test-bin: --port must be 0 or more (see --help)\n"},
	}
	for _, c := range cases {
		_, _, out := parse(c.args...)
		if !out.Done || out.Code != 2 || out.Stdout != "" || out.Stderr != c.want {
			t.Errorf("%q:\n got %+v\nwant stderr %q", c.args, out, c.want)
		}
		if strings.Count(out.Stderr, "\n") != 1 || strings.Contains(out.Stderr, "(expected") || strings.Contains(out.Stderr, "strconv") {
			t.Errorf("%q: not one plain line: %q", c.args, out.Stderr)
		}
	}
}

func TestHelpIsTheManual(t *testing.T) {
	_, _, out := parse("--help")
	if !out.Done || out.Code != 0 || out.Stderr != "" {
		t.Fatalf("--help: %+v", out)
	}
	for _, want := range []string{"test-bin [OPTIONS]", "Tests the parser.", "--timeout=DURATION", "(default: 10s)", "Exit codes:\n  0 OK"} {
		if !strings.Contains(out.Stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, out.Stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	_, _, out := parse("--version")
	if !out.Done || out.Code != 0 || out.Stdout != "test-bin 1.2\n" {
		t.Errorf("--version: %+v", out)
	}
}

func TestWarningsDoNotStop(t *testing.T) {
	_, _, out := parse("--name", "x", "--timeout", "45")
	if out.Done || out.Stderr != "test-bin: warning: --timeout 45s is above 30s\n" {
		t.Errorf("outcome %+v", out)
	}
}

func TestPositionalWhenAllowed(t *testing.T) {
	p := prog
	p.Args = "FILE..."
	var o testOpts
	rest, out := p.Parse(&o, []string{"--name", "x", "a", "--", "-b"})
	if out.Done || strings.Join(rest, " ") != "a -b" {
		t.Errorf("rest %q outcome %+v", rest, out)
	}
}

func TestCustomBadInput(t *testing.T) {
	p := prog
	p.BadInput = func(msg string) Outcome { return Outcome{Stdout: "X UNKNOWN: " + msg + "\n", Code: 3, Done: true} }
	p.Descriptions = map[string]string{"mode": "the mode here"}
	var o testOpts
	if _, out := p.Parse(&o, []string{"--bad"}); out.Stdout != "X UNKNOWN: unknown flag --bad\n" || out.Code != 3 {
		t.Errorf("outcome %+v", out)
	}
	if _, out := p.Parse(&o, []string{"--help"}); !strings.Contains(out.Stdout, "the mode here") {
		t.Errorf("description not replaced:\n%s", out.Stdout)
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"10": 10 * time.Second, "1.5": 1500 * time.Millisecond, " 3 ": 3 * time.Second, "0": 0,
		"10s": 10 * time.Second, "1500ms": 1500 * time.Millisecond, "2m": 2 * time.Minute, "1h30m": 90 * time.Minute,
		"8760h": 8760 * time.Hour, "31536000": 8760 * time.Hour,
	}
	for s, want := range good {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", s, got, err, want)
		}
	}
	bad := map[string]string{
		"": "is not a duration", "abc": "is not a duration", "NaN": "is not a duration", "inf": "is not a duration",
		"-inf": "is not a duration", "+Inf": "is not a duration", "-1": "is negative", "-1s": "is negative",
		"1e11": "is too long", "1e400": "is too long", "8761h": "is too long", "9999999999h": "is too long",
		"10x": "is not a duration", "1s2": "is not a duration",
	}
	for s, want := range bad {
		if got, err := ParseDuration(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, %v; want an error with %q", s, got, err, want)
		}
	}
}

func TestDurationTOML(t *testing.T) {
	var d Duration
	for _, c := range []struct {
		v    any
		want time.Duration
	}{{int64(5), 5 * time.Second}, {1.5, 1500 * time.Millisecond}, {"250ms", 250 * time.Millisecond}} {
		if err := d.UnmarshalTOML(c.v); err != nil || d.D() != c.want {
			t.Errorf("%v: %v %v", c.v, d, err)
		}
	}
	if err := d.UnmarshalTOML(int64(-3)); err == nil {
		t.Error("-3 accepted")
	}
	if err := d.UnmarshalTOML(true); err == nil {
		t.Error("true accepted")
	}
	if b, _ := Duration(90 * time.Second).MarshalText(); string(b) != "1m30s" {
		t.Errorf("MarshalText %s", b)
	}
}

func TestRequiredFlag(t *testing.T) {
	var o struct {
		Name string `long:"name" short:"n" required:"true" description:"name"`
	}
	if _, out := prog.Parse(&o, nil); out.Stderr != "test-bin: --name is required (see --help)\n" || out.Code != 2 {
		t.Errorf("outcome %+v", out)
	}
}

// -h with anything else is a mistake (a MySQL user's -h HOST), never the
// manual: a check would exit 0, OK, on every run.
func TestHelpGoesAlone(t *testing.T) {
	var o struct {
		Host string `long:"host" short:"H" description:"host"`
	}
	for _, args := range [][]string{{"-h", "db1"}, {"--host", "x", "--help"}} {
		if _, out := prog.Parse(&o, args); out.Code != 2 || out.Stderr != "test-bin: -h/--help shows the manual and goes alone: for --host the short flag is -H (see --help)\n" {
			t.Errorf("%q: %+v", args, out)
		}
	}
	if _, out := prog.Parse(&o, []string{"-h"}); out.Code != 0 || !strings.Contains(out.Stdout, "--host") {
		t.Errorf("-h alone: %+v", out)
	}
}

// In a real TOML file (the format deploy-tool and lib/balancer read), bare
// numbers are seconds and strings follow the flag's rules.
func TestDurationInTOMLFile(t *testing.T) {
	var doc struct {
		A, B, C Duration
	}
	if _, err := toml.Decode("a = 5\nb = \"1500ms\"\nc = 0.25\n", &doc); err != nil {
		t.Fatal(err)
	}
	if doc.A.D() != 5*time.Second || doc.B.D() != 1500*time.Millisecond || doc.C.D() != 250*time.Millisecond {
		t.Errorf("%+v", doc)
	}
	for _, bad := range []string{"a = -1", `a = "soon"`, "a = nan", "a = true"} {
		if _, err := toml.Decode(bad, &doc); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
