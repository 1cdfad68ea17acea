package check

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

type testOpts struct {
	Common
	Warning int `long:"warning" default:"300"`
}

func newTestCheck() (*Check, *bytes.Buffer, *int) {
	var out bytes.Buffer
	code := -1
	c := &Check{Name: "Test", Binary: "check-test", Version: "v1.2.3", Stdout: &out, Stderr: &out}
	c.exit = func(n int) {
		if code == -1 {
			code = n
		}
	}
	return c, &out, &code
}

func TestParseFlagsBadFlagIsUnknown(t *testing.T) {
	c, out, code := newTestCheck()
	var o testOpts
	c.ParseFlags(&o, []string{"--no-such-flag"})
	if *code != 3 {
		t.Fatalf("exit code %d, want 3", *code)
	}
	if !strings.HasPrefix(out.String(), "Test UNKNOWN: unknown flag `no-such-flag'") {
		t.Fatalf("output %q", out.String())
	}
	if !strings.Contains(out.String(), "--warning") {
		t.Fatalf("usage missing from %q", out.String())
	}
}

func TestParseFlagsBadValueIsUnknown(t *testing.T) {
	for _, args := range [][]string{{"--warning", "abc"}, {"--timeout", "soon"}, {"--error-status", "fatal"}} {
		c, out, code := newTestCheck()
		var o testOpts
		c.ParseFlags(&o, args)
		if *code != 3 || !strings.Contains(out.String(), "UNKNOWN") {
			t.Errorf("%v: exit %d output %q", args, *code, out.String())
		}
	}
}

func TestParseFlagsHelpExitsZero(t *testing.T) {
	c, out, code := newTestCheck()
	var o testOpts
	c.ParseFlags(&o, []string{"--help"})
	if *code != 0 || !strings.Contains(out.String(), "--error-status") {
		t.Fatalf("exit %d output %q", *code, out.String())
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	c, _, code := newTestCheck()
	var o testOpts
	c.ParseFlags(&o, nil)
	if *code != -1 {
		t.Fatalf("exited %d", *code)
	}
	if o.Timeout.D() != 10*time.Second || o.ErrStatus() != Critical {
		t.Fatalf("defaults: %v %v", o.Timeout.D(), o.ErrStatus())
	}
}

func TestDuration(t *testing.T) {
	cases := map[string]time.Duration{"10": 10 * time.Second, "1.5": 1500 * time.Millisecond, "250ms": 250 * time.Millisecond, "2m": 2 * time.Minute}
	for in, want := range cases {
		var d Duration
		if err := d.UnmarshalFlag(in); err != nil || d.D() != want {
			t.Errorf("%q: %v %v, want %v", in, d.D(), err, want)
		}
	}
	for _, in := range []string{"", "-1", "abc", "-3s"} {
		var d Duration
		if err := d.UnmarshalFlag(in); err == nil {
			t.Errorf("%q accepted as %v", in, d.D())
		}
	}
}

func TestErrStatus(t *testing.T) {
	for s, want := range map[string]Status{"unknown": Unknown, "warning": Warning, "critical": Critical} {
		if got := (Common{ErrorStatus: s}).ErrStatus(); got != want {
			t.Errorf("%s: %v", s, got)
		}
	}
}

func TestExitLine(t *testing.T) {
	c, out, code := newTestCheck()
	c.Exit(Resultf(Warning, "up %d sec < %d", 120, 300))
	if out.String() != "Test WARNING: up 120 sec < 300\n" || *code != 1 {
		t.Fatalf("%q %d", out.String(), *code)
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

func TestParseFlagsVersion(t *testing.T) {
	c, out, code := newTestCheck()
	var o testOpts
	c.ParseFlags(&o, []string{"--version"})
	if *code != 0 || out.String() != "check-test v1.2.3\n" {
		t.Fatalf("exit %d output %q", *code, out.String())
	}
}
