package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
)

// TestBenchRollout is `make bench-rollout` (deploy-tool/bench-rollout.sh
// sets BENCH_ROLLOUT=1): the wall time of a rollout of 4 and of 16 servers
// under load, against the sum of the deploy commands' own times. The target
// is an overhead per server of at most its drain time plus 1 s, with no
// error under load. It is a measurement, not a timed test: it fails only on
// errors, never on time.
func TestBenchRollout(t *testing.T) {
	if os.Getenv("BENCH_ROLLOUT") == "" {
		t.Skip("run by make bench-rollout (BENCH_ROLLOUT=1)")
	}
	for _, lb := range []string{"nginx", "haproxy"} {
		for _, n := range []int{4, 16} {
			t.Run(lb+"-"+strconv.Itoa(n), func(t *testing.T) { benchRollout(t, lb, n) })
		}
	}
}

func benchRollout(t *testing.T, lb string, n int) {
	a := startApps(t, n, "v1")
	var frontend, btoml string
	if lb == "nginx" {
		ng := balancertest.StartNginx(t, a.addrs, 2)
		frontend, btoml = ng.Frontend, nginxTOML(ng)
	} else {
		h := balancertest.StartHAProxy(t, a.addrs)
		frontend, btoml = h.Frontend, haproxyTOML(h)
	}
	cfg := e2eConfig(t, a, btoml, "v2", `settle = "200ms"`)
	l := startLoad(t, frontend, loadRate)
	time.Sleep(time.Second)
	t0 := time.Now()
	code, out := tool(t, "rollout", "--config", cfg)
	wall := time.Since(t0)
	time.Sleep(500 * time.Millisecond)
	r := l.Report()
	if code != 0 || r.Non2xx+r.Errors != 0 {
		t.Fatalf("rollout exit %d, %d non-2xx, %d transport errors\n%s\n%s", code, r.Non2xx, r.Errors, out, r.Text)
	}
	deploy, drain := columnSum(t, out, 2), columnSum(t, out, 1)
	over := (wall.Seconds() - deploy) / float64(n)
	t.Logf("bench: %-7s %2d servers: wall %5.1fs, deploy commands %5.1fs, drains %5.1fs; overhead per server %.2fs = drain %.2fs + %.2fs; %d requests (%.0f/s), 0 errors",
		lb, n, wall.Seconds(), deploy, drain, over, drain/float64(n), over-drain/float64(n), r.Total, r.Rate)
}

var secondsCell = regexp.MustCompile(`^([0-9.]+)s$`)

// columnSum adds one column (0 = DOWN) of the summary table.
func columnSum(t *testing.T, out string, col int) float64 {
	sum := 0.0
	in := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "SERVER" {
			in = true
			continue
		}
		if !in || len(f) < 8 {
			continue
		}
		if m := secondsCell.FindStringSubmatch(f[1+col]); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			sum += v
		}
	}
	return sum
}
