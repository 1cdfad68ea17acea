// Package clitest runs every binary built on lib/cli the way a user who
// mistypes a flag would, and holds each to the suite's one rule for bad
// input: exactly one line, on the stream the binary's kind calls for, that
// names the flag and the value, with the kind's exit code; never a usage
// dump or a Go type name. --help and --version exit 0.
package clitest

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// kind is how a binary reports bad input.
type kind struct {
	code   int    // exit code
	stdout bool   // the line goes to stdout (a check: Mackerel posts stdout) or stderr
	prefix string // how the line begins
}

// check is a mackerel-agent check: "<Name> UNKNOWN: …" on stdout, exit 3.
func check(name string) kind { return kind{code: 3, stdout: true, prefix: name + " UNKNOWN: "} }

// plugin is a metrics plugin or a tool: "<binary>: …" on stderr, exit 2
// (a metrics plugin's stdout is read as metrics).
func plugin(binary string) kind { return kind{code: 2, prefix: binary + ": "} }

// binaries: adding a binary built on lib/cli is one line here. valid are
// flags that make the rest of its command line acceptable, so that the bad
// flag is the only fault.
var binaries = []struct {
	name  string
	kind  kind
	valid []string
}{
	{"check-mysql-uptime", check("MySQL"), nil},
	{"check-memcached-uptime", check("Memcached"), nil},
	{"check-crt-expiration", check("Certificate"), []string{"--host", "127.0.0.1"}},
	{"check-dns-rr", check("DNS-RR"), []string{"--name", "x.test", "--server", "127.0.0.1"}},
	{"mackerel-plugin-upstream", plugin("mackerel-plugin-upstream"), []string{"--nginx-url", "http://127.0.0.1:1/d", "--nginx-zone", "z"}},
	{"check-error-log", check("ErrorLog"), []string{"--file", "/nonexistent/error.log", "--pattern", "x"}},
	{"mackerel-service-accesslog", plugin("mackerel-service-accesslog"), []string{"--redis", "redis://127.0.0.1:1/0", "--service", "web"}},
	{"mackerel-plugin-accesslog", plugin("mackerel-plugin-accesslog"), []string{"--file", "/nonexistent/access.log"}},
	{"deploy-tool", plugin("deploy-tool"), nil},
	{"deploy-tool", plugin("deploy-tool rollout"), []string{"rollout"}},
	{"deploy-tool", check("deploy-tool"), []string{"check"}},
}

// label names a table row: the binary, and its subcommand when the valid
// arguments begin with one (deploy-tool check).
func label(name string, valid []string) string {
	if len(valid) > 0 && !strings.HasPrefix(valid[0], "-") {
		return name + " " + valid[0]
	}
	return name
}

// notApplicable are the bad inputs that are not mistakes for a binary:
// mackerel-plugin-accesslog has no --timeout (a run is bounded by what it
// reads, --max-read-bytes) and takes its log files as arguments, as
// mackerelio's plugin does. deploy-tool (before a subcommand) and its
// rollout have no --timeout: their bounds are in the config.
var notApplicable = map[string][]string{
	"mackerel-plugin-accesslog": {"--timeout", "stray"},
	"deploy-tool":               {"--timeout"},
	"deploy-tool rollout":       {"--timeout"},
}

// badInputs are mistakes every binary shares, each with what its one line
// must say.
var badInputs = []struct {
	args []string
	want string
}{
	{[]string{"--no-such-flag"}, "unknown flag --no-such-flag"},
	{[]string{"--timeout", "soon"}, `--timeout: "soon" is not a duration`},
	{[]string{"--timeout", "0"}, "--timeout 0s: want more than 0"},
	{[]string{"--timeout", "NaN"}, `--timeout: "NaN" is not a duration`},
	{[]string{"--timeout", "-5"}, `--timeout: "-5" is negative`},
	{[]string{"--timeout"}, "--timeout needs a value"},
	{[]string{"stray"}, `unexpected argument "stray"`},
	{[]string{"-h", "db1"}, "-h/--help shows the manual and goes alone"},
}

// goInternals are words that only a programmer would recognise.
var goInternals = regexp.MustCompile(`expected [a-z.]*[A-Z]?[a-z]*\)|\(expected|strconv\.|main\.|check\.|cli\.|time\.Duration|invalid argument for flag|Usage:`)

func TestBadInputIsOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	for _, b := range binaries {
		t.Run(label(b.name, b.valid), func(t *testing.T) {
			bin := testenv.BuildBinary(t, b.name)
			for _, bad := range badInputs {
				if slices.Contains(notApplicable[label(b.name, b.valid)], bad.args[0]) {
					continue
				}
				args := append(append([]string{}, b.valid...), bad.args...)
				r := testenv.Run(t, bin, nil, args...)
				line, other := r.Stderr, r.Stdout
				if b.kind.stdout {
					line, other = r.Stdout, r.Stderr
				}
				switch {
				case r.Code != b.kind.code:
					t.Errorf("%q: exit %d, want %d", args, r.Code, b.kind.code)
				case other != "":
					t.Errorf("%q: output on the wrong stream: %q", args, other)
				case strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n"):
					t.Errorf("%q: not exactly one line: %q", args, line)
				case !strings.HasPrefix(line, b.kind.prefix) || !strings.Contains(line, bad.want):
					t.Errorf("%q: %q, want %q…%q", args, line, b.kind.prefix, bad.want)
				case goInternals.MatchString(line):
					t.Errorf("%q: Go internals in %q", args, line)
				}
			}
			for _, args := range [][]string{{"--help"}, {"--version"}} {
				if r := testenv.Run(t, bin, nil, args...); r.Code != 0 || r.Stdout == "" || r.Stderr != "" {
					t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.Code, r.Stdout, r.Stderr)
				}
			}
			if r := testenv.Run(t, bin, nil, "--help"); !strings.Contains(r.Stdout, "Exit codes") || !strings.Contains(r.Stdout, "Example") {
				t.Errorf("--help is not the manual (no exit codes or example):\n%s", r.Stdout)
			}
		})
	}
}
