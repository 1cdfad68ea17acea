package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runSplit runs deploy-tool with separate stdout and stderr.
func runSplit(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// A mistake on the command line is one line on stderr that names it and
// what to use instead, exit 2 (check: one UNKNOWN line on stdout, exit 3),
// never a usage dump, a Go type name, or a secret.
func TestBadCommandLineIsOneLine(t *testing.T) {
	for _, c := range []struct {
		args   []string
		code   int
		stdout bool // the line goes to stdout (check), else stderr
		want   string
	}{
		{nil, exitUsage, false, "deploy-tool: want a subcommand: rollout, down, up, wrapper, status, check, window or version"},
		{[]string{"deploy"}, exitUsage, false, `deploy-tool: unexpected argument "deploy": want a subcommand (rollout`},
		{[]string{"https://hooks.slack.com/services/T0/B0/SECRET"}, exitUsage, false, "a URL, not shown"},
		{[]string{"--no-such-flag"}, exitUsage, false, "deploy-tool: unknown flag --no-such-flag: deploy-tool takes a subcommand first"},
		{[]string{"--timeout", "5", "check"}, exitUsage, false, "unknown flag --timeout before the subcommand: flags go after it (deploy-tool check --timeout)"},
		{[]string{"-c", "x.toml", "rollout"}, exitUsage, false, "flags go after it (deploy-tool SUBCOMMAND -c)"},
		{[]string{"--json", "status"}, exitUsage, false, "(deploy-tool status --json)"},
		{[]string{"-h", "rollout"}, exitUsage, false, "-h/--help shows the manual and goes alone (deploy-tool SUBCOMMAND --help"},
		{[]string{"help", "deploy"}, exitUsage, false, `help "deploy": want one of rollout`},
		{[]string{"version", "x"}, exitUsage, false, `unexpected argument "x": version goes alone`},
		{[]string{"rollout", "--bogus"}, exitUsage, false, "deploy-tool rollout: unknown flag --bogus"},
		{[]string{"rollout", "--dry-rn"}, exitUsage, false, "unknown flag --dry-rn: did you mean --dry-run?"},
		{[]string{"rollout", "--timeout", "5"}, exitUsage, false, "unknown flag --timeout: the bounds are in the config: deploy.timeout"},
		{[]string{"rollout", "--version"}, exitUsage, false, "unknown flag --version: deploy-tool --version (or deploy-tool version) prints it"},
		{[]string{"rollout", "stray"}, exitUsage, false, `deploy-tool rollout: unexpected argument "stray": this command takes flags only`},
		{[]string{"rollout", "--config"}, exitUsage, false, "deploy-tool rollout: --config needs a value"},
		{[]string{"rollout", "--yes=no"}, exitUsage, false, "--yes takes no value"},
		{[]string{"status", "--jsn"}, exitUsage, false, "deploy-tool status: unknown flag --jsn: did you mean --json?"},
		{[]string{"down"}, exitUsage, false, "deploy-tool down: want one SERVER (its address, IP:port, or its host in the config), got 0 arguments"},
		{[]string{"up", "a", "b"}, exitUsage, false, "deploy-tool up: want one SERVER (its address, IP:port, or its host in the config), got 2 arguments"},
		{[]string{"down", "--forse", "app1"}, exitUsage, false, "did you mean --force?"},
		{[]string{"wrapper", "--", "rsync"}, exitUsage, false, "deploy-tool wrapper: --self is required"},
		{[]string{"wrapper", "--self", "10.0.0.1:80", "rsync", "--server", "-vlogDtpre.iLsfxC", ".", "/srv/app/"}, exitUsage, false,
			"deploy-tool wrapper: unknown flag --server: the command goes after --: --rsync-path='deploy-tool wrapper --self ADDR -- rsync'"},
		{[]string{"wrapper", "--self", "10.0.0.1:80"}, exitUsage, false, "deploy-tool wrapper: want the command after --, e.g. -- rsync ARGS..."},
		{[]string{"check", "--bogus"}, 3, true, "deploy-tool UNKNOWN: unknown flag --bogus"},
		{[]string{"check", "--stuck-after", "soon"}, 3, true, `deploy-tool UNKNOWN: --stuck-after: "soon" is not a duration: want seconds (10) or a number with a unit`},
		{[]string{"check", "--stuck-after", "-1"}, 3, true, `--stuck-after: "-1" is negative`},
		{[]string{"check", "--timeout", "0"}, 3, true, "deploy-tool UNKNOWN: --timeout 0s: want more than 0"},
		{[]string{"check", "--error-status", "fatal"}, 3, true, `--error-status: "fatal": want unknown, warning or critical`},
		{[]string{"check", "stray"}, 3, true, `deploy-tool UNKNOWN: unexpected argument "stray"`},
		{[]string{"check", "-h", "x"}, 3, true, "deploy-tool UNKNOWN: -h/--help shows the manual and goes alone"},
	} {
		code, stdout, stderr := runSplit(c.args...)
		line, other := stderr, stdout
		if c.stdout {
			line, other = stdout, stderr
		}
		switch {
		case code != c.code:
			t.Errorf("%q: exit %d, want %d (%q %q)", c.args, code, c.code, stdout, stderr)
		case other != "":
			t.Errorf("%q: output on the wrong stream: %q", c.args, other)
		case strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n"):
			t.Errorf("%q: not one line: %q", c.args, line)
		case !strings.Contains(line, c.want):
			t.Errorf("%q: %q, want it to contain %q", c.args, line, c.want)
		case strings.Contains(line, "SECRET") || strings.Contains(line, "(expected") || strings.Contains(line, "Duration"):
			t.Errorf("%q: a secret or Go internals in %q", c.args, line)
		}
	}
}

// --help is the manual: deploy-tool --help has every subcommand's flags,
// the exit codes and an example; each subcommand's has its own.
func TestHelpIsTheManual(t *testing.T) {
	code, top, stderr := runSplit("--help")
	if code != 0 || stderr != "" {
		t.Fatalf("--help: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"Exit codes:", "Example:", "130 interrupted", "timeout = 5",
		"--dry-run", "--resume", "--allow-down", "--discard-journal", "--yes", "--force", "--skip-health",
		"--self", "--json", "--stuck-after", "--timeout", "--error-status", "--version", "Statuses:"} {
		if !strings.Contains(top, want) {
			t.Errorf("deploy-tool --help lacks %q", want)
		}
	}
	for _, sub := range subcommands {
		for _, args := range [][]string{{sub, "--help"}, {sub, "-h"}, {"help", sub}} {
			code, out, stderr := runSplit(args...)
			if sub == "wrapper" && args[0] != "help" {
				out, stderr = stderr, out // wrapper's stdout is rsync's protocol
			}
			if code != 0 || stderr != "" || !strings.Contains(out, "deploy-tool "+sub+" [OPTIONS]") ||
				!strings.Contains(out, "Exit codes") || !strings.Contains(out, "Example") || !strings.Contains(top, out) {
				t.Errorf("%q: exit %d, stderr %q, not its manual or not in deploy-tool --help:\n%s", args, code, stderr, out)
			}
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		if code, out, _ := runSplit(args...); code != 0 || out != "deploy-tool dev\n" {
			t.Errorf("%q: %d %q", args, code, out)
		}
	}
	if code, out, _ := runSplit("check", "--version"); code != 0 || out != "deploy-tool check dev\n" {
		t.Errorf("check --version: %d %q", code, out)
	}
}

// Config errors after the flags keep the exit code of bad config (2), or
// UNKNOWN for check, with the file and the line.
func TestConfigErrorsOnTheCommandLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deploy.toml")
	if err := os.WriteFile(path, []byte("settle = \"soon\"\n[[server]]\naddr = \"127.0.0.1:5001\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runSplit("rollout", "--config", filepath.Join(t.TempDir(), "missing.toml")); code != exitUsage || !strings.Contains(stderr, "missing.toml") {
		t.Errorf("missing config: exit %d %q", code, stderr)
	}
	for _, sub := range []string{"rollout", "status"} {
		if code, _, stderr := runSplit(sub, "--config", path); code != exitUsage || !strings.Contains(stderr, `line 1 (last key "settle"): "soon" is not a duration`) {
			t.Errorf("%s: exit %d %q", sub, code, stderr)
		}
	}
	code, stdout, _ := runSplit("check", "--config", path)
	if code != 3 || !strings.HasPrefix(stdout, "deploy-tool UNKNOWN: ") || !strings.Contains(stdout, `line 1 (last key "settle")`) {
		t.Errorf("check: exit %d %q", code, stdout)
	}
}

// --stuck-after and --timeout take the suite's durations: a bare number is
// seconds.
func TestCheckDurationsInSeconds(t *testing.T) {
	var opts CheckOptions
	c, p := checkCommand(&bytes.Buffer{}, &bytes.Buffer{})
	if _, out := c.Command(p).Parse(&opts, []string{"--stuck-after", "90", "--timeout", "2.5"}); out.Done {
		t.Fatalf("refused: %+v", out)
	}
	if opts.StuckAfter.D() != 90*time.Second || opts.Timeout.D() != 2500*time.Millisecond {
		t.Errorf("--stuck-after 90 --timeout 2.5: %v %v", opts.StuckAfter, opts.Timeout)
	}
}

// A FIFO given as --config is refused at once (exit 2, or UNKNOWN for
// check), not waited on past every deadline.
func TestConfigFIFORefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deploy.toml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code           int
		stdout, stderr string
	}
	for _, sub := range []string{"rollout", "status", "check"} {
		done := make(chan result, 1)
		go func() {
			code, stdout, stderr := runSplit(sub, "--config", path)
			done <- result{code, stdout, stderr}
		}()
		select {
		case r := <-done:
			want, line := exitUsage, r.stderr
			if sub == "check" {
				want, line = 3, r.stdout
			}
			if r.code != want || !strings.Contains(line, "is a named pipe (FIFO)") {
				t.Errorf("%s: exit %d, %q", sub, r.code, line)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s --config FIFO: still blocked after a minute", sub)
		}
	}
}
