package redisstore_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// TestBogusValuesDoNotOverflow: contributions whose bytes are past an int64
// (10^18 a line) and whose request times are the plugin's largest (2^50 µs,
// 8,192 of which overflow an int64 sum) are each applied once, every one of
// them, retries included: before bytes and sums were kept out of int64,
// Redis's HINCRBY answered "increment or decrement would overflow" in the
// middle of the script, after the counts had been added, so each retry
// counted the lines again and the contribution never left the spool. The
// window's values are the true ones: bytes.sent and latency.average
// positive and equal to the brute force.
func TestBogusValuesDoNotOverflow(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, redisstore.Config{URL: srv.URL()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := fleet.WindowOf(time.Now().Add(-time.Minute), 10*time.Second)
	const hosts, linesPerHost, huge = 3, 9000, int64(1) << 50
	const size = 999999999999999999
	for h := range hosts {
		var lines []line
		for i := range linesPerHost {
			l := line{status: 200, reqUS: huge, bytes: size, group: "api", window: w, hostName: fmt.Sprint(h)}
			if i%3 == 0 {
				l.reqUS, l.hasUp, l.upUS = 1000, true, huge
			}
			lines = append(lines, l)
		}
		c := contributionOf(fmt.Sprintf("h%d", h), fmt.Sprint(h), w, lines)
		for try, want := range []redisstore.Outcome{redisstore.Applied, redisstore.Dup} {
			if out, err := st.Deliver(ctx, c, nil); err != nil || out != want {
				t.Fatalf("host %d, delivery %d: %v %v, want %v", h, try+1, out, err, want)
			}
		}
	}
	f, err := st.Freeze(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	v := f.Values(10)
	n := float64(hosts * linesPerHost)
	third := float64(hosts * linesPerHost / 3)
	want := map[string]float64{
		"access_num.total_count":           n,
		"bytes.sent":                       n * size / 10,
		"latency.average":                  ((n-third)*float64(huge) + third*1000) / n / 1e6,
		"latency.max":                      float64(huge) / 1e6,
		"upstream_latency.average":         float64(huge) / 1e6,
		"group_access_num.api.total_count": n,
	}
	for k, wv := range want {
		if gv := v[k]; gv <= 0 || math.Abs(gv-wv) > 1e-12*wv {
			t.Errorf("%s = %v, want %v", k, gv, wv)
		}
	}
}
