package uptime

import (
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

func TestHuman(t *testing.T) {
	cases := map[int64]string{
		0: "0s", 1: "1s", 59: "59s", 60: "1m", 252: "4m12s", 3600: "1h", 3660: "1h1m",
		10920: "3h2m", 10921: "3h2m", 86400: "1d", 86400*12 + 3*3600 + 59: "12d3h", -5: "-5s",
	}
	for in, want := range cases {
		if got := Human(in); got != want {
			t.Errorf("Human(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestJudge(t *testing.T) {
	cases := []struct {
		th   Thresholds
		up   int64
		st   check.Status
		want string
	}{
		{Thresholds{Warning: 300}, 252, check.Warning, "up 4m12s (252 s) < warning 300 s"},
		{Thresholds{Warning: 300, Critical: 60}, 12, check.Critical, "up 12s (12 s) < critical 60 s"},
		{Thresholds{Warning: 300, Critical: 60}, 300, check.OK, "up 5m (300 s)"},
		{Thresholds{}, 0, check.OK, "up 0s (0 s)"},
	}
	for _, tc := range cases {
		r := tc.th.Judge(tc.up)
		if r.Status != tc.st || r.Message != tc.want {
			t.Errorf("%+v up %d: %v %q, want %v %q", tc.th, tc.up, r.Status, r.Message, tc.st, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if (Thresholds{Warning: 1, Critical: 0}).Validate() != nil {
		t.Error("valid thresholds rejected")
	}
	if (Thresholds{Warning: -1}).Validate() == nil || (Thresholds{Critical: -1}).Validate() == nil {
		t.Error("negative threshold accepted")
	}
}
