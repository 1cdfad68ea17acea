package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
)

// roundTrips counts the client's requests to Redis (a pipeline counts once).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// benchContribution is one host's minute at about 300 requests: request
// times in ms (nginx), 3 groups.
func benchContribution(r *rand.Rand, id, host string, w fleet.Window) *fleet.Contribution {
	c := &fleet.Contribution{ID: id, Service: "bench", Host: host, Window: w}
	for i := range 300 {
		for _, cnt := range []*fleet.Counts{&c.All, c.Group([]string{"www", "api", "img"}[i%3])} {
			cnt.Total++
			cnt.Class[2]++
			cnt.Bytes += 1000
			cnt.ReqTime.Add(r.Int64N(800) * 1000)
			cnt.Upstream.Add(r.Int64N(700) * 1000)
		}
	}
	return c
}

// BenchmarkAggregateWindow is the aggregator's work per closed window of
// 100 and 1,000 hosts: list, freeze and read, compute the values, mark
// posted. ns/op and B/op are the aggregator's; roundtrips/window are its
// requests to Redis. The window is filled once (not timed) and re-read:
// Freeze is idempotent. MarkPosted (a script and a ZREM) is counted in
// roundtrips/window but not timed.
func BenchmarkAggregateWindow(b *testing.B) {
	srv := fleettest.StartRedis(b)
	for _, hosts := range []int{100, 1000} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			st, err := Open(Config{URL: srv.URL(), Timeout: 30 * time.Second}, fmt.Sprintf("bench%d", hosts))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			if err := st.SetGen(ctx, time.Unix(0, 0)); err != nil {
				b.Fatal(err)
			}
			w := fleet.WindowOf(time.Now().Add(-time.Minute), time.Minute)
			r := rand.New(rand.NewPCG(1, uint64(hosts)))
			for h := range hosts {
				c := benchContribution(r, fmt.Sprintf("c%d", h), fmt.Sprintf("host%d", h), w)
				if _, err := st.Deliver(ctx, c, nil); err != nil {
					b.Fatal(err)
				}
			}
			var rt roundTrips
			st.rdb.AddHook(&rt)
			b.ReportAllocs()
			b.ResetTimer()
			var f *fleet.Frozen
			for b.Loop() {
				ws, err := st.Closed(ctx, time.Now(), 10)
				if err != nil || len(ws) != 1 {
					b.Fatal(ws, err)
				}
				if f, err = st.Freeze(ctx, w); err != nil {
					b.Fatal(err)
				}
				if v := f.Values(20); v["fleet.hosts_count"] != float64(hosts) {
					b.Fatalf("hosts %v", v["fleet.hosts_count"])
				}
			}
			b.StopTimer()
			perLoop := float64(rt.n.Load()) / float64(b.N)
			if err := st.MarkPosted(ctx, w, time.Now()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(perLoop+2, "roundtrips/window") // + MarkPosted's script and ZREM
			b.ReportMetric(float64(f.All.ReqTime.N), "requests/window")
		})
	}
}

// BenchmarkDeliver is a host's delivery of one contribution (about 300
// requests): one script call and one ZADD.
func BenchmarkDeliver(b *testing.B) {
	srv := fleettest.StartRedis(b)
	st, err := Open(Config{URL: srv.URL(), Timeout: 30 * time.Second}, "benchdeliver")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := rand.New(rand.NewPCG(3, 4))
	w := fleet.WindowOf(time.Now(), time.Hour)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		c := benchContribution(r, fmt.Sprintf("d%d", i), "host", w)
		i++
		if _, err := st.Deliver(context.Background(), c, nil); err != nil {
			b.Fatal(err)
		}
	}
}
