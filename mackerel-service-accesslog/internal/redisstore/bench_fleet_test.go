package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
)

// BenchmarkAggregateFleet is issue 20's fleet at scale: 1,000 hosts of
// 10,000 requests each in one window (10 M requests), request times in µs
// (Apache %D, log-normal around 30 ms: about a million distinct values) and,
// for comparison, the same times cut to ms (nginx). ns/op and B/op are the
// aggregator's (list, freeze and read, merge, compute the values);
// redis-MB/window is what the window adds to Redis's used_memory (INFO
// memory) and data-MB/window the MEMORY USAGE of its data hash. On a busy
// machine ns/op (wall time) waits for the CPU: agg-cpu-ms/window is the
// aggregator's CPU time (getrusage) and redis-cpu-ms/window Redis's (INFO
// cpu), each a window.
func BenchmarkAggregateFleet(b *testing.B) {
	for _, res := range []struct {
		name string
		unit int64
	}{{"µs", 1}, {"ms", 1000}} {
		b.Run(fmt.Sprintf("res=%s/hosts=1000", res.name), func(b *testing.B) {
			benchAggregateFleet(b, 1000, 10_000, res.unit)
		})
	}
}

func benchAggregateFleet(b *testing.B, hosts, requests int, unit int64) {
	srv := fleettest.StartRedis(b)
	st, err := Open(Config{URL: srv.URL(), Timeout: 60 * time.Second}, "fleet")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.Grace = 2 * time.Hour // the filling may outlast the default grace
	ctx := context.Background()
	if err := st.SetGen(ctx, time.Unix(0, 0)); err != nil {
		b.Fatal(err)
	}
	before := usedMemory(b, st)
	w := fleet.WindowOf(time.Now().Add(-time.Minute), time.Minute)
	r := rand.New(rand.NewPCG(20, uint64(unit)))
	for h := range hosts {
		c := &fleet.Contribution{ID: fmt.Sprintf("c%d", h), Service: "fleet", Host: fmt.Sprintf("web-%04d", h), Window: w}
		for range requests {
			c.All.Total++
			c.All.Class[2]++
			c.All.Bytes += 1000
			c.All.ReqTime.Add(usTime(r) / unit * unit)
		}
		if _, err := st.Deliver(ctx, c, nil); err != nil {
			b.Fatal(err)
		}
	}
	redisMB := float64(usedMemory(b, st)-before) / 1e6
	dataBytes, err := st.rdb.MemoryUsage(ctx, st.windowKeys(w)[3], 0).Result()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, redis0 := selfCPU(), redisCPU(b, st)
	var f *fleet.Frozen
	for b.Loop() {
		ws, err := st.Closed(ctx, time.Now(), 10)
		if err != nil || len(ws) != 1 {
			b.Fatal(ws, err)
		}
		if f, err = st.Freeze(ctx, w); err != nil {
			b.Fatal(err)
		}
		if v := f.Values(20); v["fleet.hosts_count"] != float64(hosts) || v["access_num.total_count"] != float64(hosts*requests) {
			b.Fatalf("hosts %v, requests %v", v["fleet.hosts_count"], v["access_num.total_count"])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(selfCPU()-cpu0)/1e6/float64(b.N), "agg-cpu-ms/window")
	b.ReportMetric((redisCPU(b, st)-redis0)*1e3/float64(b.N), "redis-cpu-ms/window")
	b.ReportMetric(redisMB, "redis-MB/window")
	b.ReportMetric(float64(dataBytes)/1e6, "data-MB/window")
	b.ReportMetric(float64(f.All.ReqTime.Distinct()), "distinct/window")
}

var (
	usedMemoryRE = regexp.MustCompile(`(?m)^used_memory:(\d+)`)
	usedCPURE    = regexp.MustCompile(`(?m)^used_cpu_(?:sys|user):([0-9.]+)`)
)

// selfCPU is this process's CPU time, user and system, in ns.
func selfCPU() int64 {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return u.Utime.Nano() + u.Stime.Nano()
}

// redisCPU is Redis's CPU time, user and system, in seconds (INFO cpu).
func redisCPU(b *testing.B, st *Store) float64 {
	info, err := st.rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, m := range usedCPURE.FindAllStringSubmatch(info, 2) {
		x, _ := strconv.ParseFloat(m[1], 64)
		sum += x
	}
	return sum
}

// usedMemory is Redis's used_memory (INFO memory), in bytes.
func usedMemory(b *testing.B, st *Store) int64 {
	info, err := st.rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	m := usedMemoryRE.FindStringSubmatch(info)
	if m == nil {
		b.Fatalf("no used_memory in INFO memory: %.200s", info)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}
