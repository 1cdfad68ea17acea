package check

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

type testOpts struct {
	Common
	Warning int `long:"warning" default:"300"`
}

func newTestCheck() (*Check, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Check{Name: "Test", Binary: "check-test", Version: "v1.2.3", Stdout: &out, Stderr: &errb}, &out, &errb
}

var testProgram = cli.Program{Summary: "Tests the conventions.", Manual: "Statuses:\n  OK always"}

// execute runs a check that would say OK, with args.
func execute(args ...string) (code int, stdout, stderr string, o testOpts) {
	c, out, errb := newTestCheck()
	code = c.Execute(testProgram, &o, args, func() Result { return Resultf(OK, "fine") })
	return code, out.String(), errb.String(), o
}

func TestBadFlagIsOneUnknownLine(t *testing.T) {
	cases := map[string][]string{
		"Test UNKNOWN: unknown flag --no-such-flag (see --help)\n":                                                                       {"--no-such-flag"},
		"Test UNKNOWN: --warning \"abc\": want a whole number (see --help)\n":                                                            {"--warning", "abc"},
		"Test UNKNOWN: --error-status: \"fatal\": want unknown, warning or critical (see --help)\n":                                      {"--error-status", "fatal"},
		"Test UNKNOWN: --timeout 0s: want more than 0 (10, 10s, 1500ms) (see --help)\n":                                                  {"--timeout", "0"},
		"Test UNKNOWN: --timeout: \"-2s\" is negative: want 0 or more (see --help)\n":                                                    {"--timeout", "-2s"},
		"Test UNKNOWN: unexpected argument \"extra\": this command takes flags only (see --help)\n":                                      {"extra"},
		"Test UNKNOWN: --timeout: \"1e11\" is too long: at most 8760h (see --help)\n":                                                    {"--timeout", "1e11"},
		"Test UNKNOWN: --timeout: \"inf\" is not a duration: want seconds (10) or a number with a unit (10s, 1500ms, 2m) (see --help)\n": {"--timeout", "inf"},
	}
	for want, args := range cases {
		code, out, errb, _ := execute(args...)
		if code != 3 || out != want || errb != "" {
			t.Errorf("%q: exit %d stdout %q stderr %q\nwant %q", args, code, out, errb, want)
		}
	}
}

func TestHelpIsTheManual(t *testing.T) {
	code, out, _, _ := execute("--help")
	for _, want := range []string{"check-test [OPTIONS]", "Tests the conventions.", "--error-status", "Statuses:\n  OK always", "Exit codes"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("--help: exit %d, no %q in\n%s", code, want, out)
		}
	}
}

func TestDefaultsRun(t *testing.T) {
	code, out, errb, o := execute()
	if code != 0 || out != "Test OK: fine\n" || errb != "" {
		t.Fatalf("exit %d %q %q", code, out, errb)
	}
	if o.Timeout.D() != 10*time.Second || o.ErrStatus() != Critical {
		t.Fatalf("defaults: %v %v", o.Timeout.D(), o.ErrStatus())
	}
}

func TestLongTimeoutIsWarnedAbout(t *testing.T) {
	code, out, errb, _ := execute("--timeout", "45")
	if code != 0 || out != "Test OK: fine\n" || !strings.Contains(errb, "--timeout 45s is above mackerel-agent's default timeout_seconds (30)") {
		t.Fatalf("exit %d %q %q", code, out, errb)
	}
}

func TestVersion(t *testing.T) {
	code, out, _, _ := execute("--version")
	if code != 0 || out != "check-test v1.2.3\n" {
		t.Fatalf("exit %d output %q", code, out)
	}
}

func TestErrStatus(t *testing.T) {
	for s, want := range map[string]Status{"unknown": Unknown, "warning": Warning, "critical": Critical} {
		if got := (Common{ErrorStatus: ErrorStatus(s)}).ErrStatus(); got != want {
			t.Errorf("%s: %v", s, got)
		}
	}
}

func TestExecuteLine(t *testing.T) {
	c, out, _ := newTestCheck()
	var o testOpts
	code := c.Execute(testProgram, &o, nil, func() Result { return Resultf(Warning, "up %d sec < %d", 120, 300) })
	if out.String() != "Test WARNING: up 120 sec < 300\n" || code != 1 {
		t.Fatalf("%q %d", out.String(), code)
	}
}

func TestWorst(t *testing.T) {
	if Worst(OK, Unknown, Warning) != Warning || Worst(Warning, Critical, Unknown) != Critical || Worst(OK, Unknown) != Unknown || Worst() != OK {
		t.Fatal("Worst ordering wrong")
	}
	if !Worse(Critical, Warning) || !Worse(Unknown, OK) || Worse(Unknown, Warning) || Worse(OK, OK) {
		t.Fatal("Worse ordering wrong")
	}
}

func TestBelowThreshold(t *testing.T) {
	cases := []struct {
		v, w, c float64
		st      Status
		crossed float64
	}{
		{100, 300, 60, Warning, 300},
		{30, 300, 60, Critical, 60},
		{400, 300, 60, OK, 0},
		{30, 0, 0, OK, 0},
		{300, 300, 0, OK, 0},
	}
	for _, tc := range cases {
		st, th := BelowThreshold(tc.v, tc.w, tc.c)
		if st != tc.st || th != tc.crossed {
			t.Errorf("%v: got %v %v", tc, st, th)
		}
	}
}

func TestRunReturnsResult(t *testing.T) {
	r := Run(time.Second, func() Result { return Resultf(Unknown, "timeout") }, func(ctx context.Context) Result {
		return Resultf(OK, "fine")
	})
	if r.Status != OK {
		t.Fatal(r)
	}
}

func TestRunGivesUpOnStuckFunction(t *testing.T) {
	start := time.Now()
	block := make(chan struct{})
	defer close(block)
	r := Run(100*time.Millisecond, func() Result { return Resultf(Critical, "timed out") }, func(ctx context.Context) Result {
		<-block // ignores its context, as a stuck driver would
		return Resultf(OK, "never")
	})
	if r.Status != Critical || r.Message != "timed out" {
		t.Fatal(r)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
}
