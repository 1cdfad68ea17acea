package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
)

// writeOldFormat adds c to its window as pushers before the blobs did: one
// data field per histogram value ("req/v/MICROSECONDS").
func writeOldFormat(ctx context.Context, t *testing.T, s *Store, c *fleet.Contribution) {
	keys := s.windowKeys(c.Window)
	p := s.rdb.TxPipeline()
	p.HSetNX(ctx, keys[0], "created", time.Now().Unix())
	p.SAdd(ctx, keys[1], c.ID)
	p.HIncrBy(ctx, keys[2], c.Host, 1)
	p.HIncrBy(ctx, keys[3], "total", int64(c.All.Total))
	p.HIncrBy(ctx, keys[3], "req/n", int64(c.All.ReqTime.N))
	for v, n := range c.All.ReqTime.Counts {
		p.HIncrBy(ctx, keys[3], "req/v/"+strconv.FormatInt(v, 10), int64(n))
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := s.rdb.HGet(ctx, keys[3], "req/max").Int64()
	if err := s.rdb.HSet(ctx, keys[3], "req/max", max(cur, c.All.ReqTime.Max)).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestWindowHalfWrittenInTheOldFormat: during an upgrade a window holds
// contributions of old pushers (a field a value) and new ones (a blob
// each); the aggregator merges both, exactly as a brute force over every
// request.
func TestWindowHalfWrittenInTheOldFormat(t *testing.T) {
	t.Parallel()
	srv := fleettest.StartRedis(t)
	s, err := Open(Config{URL: srv.URL(), Timeout: 10 * time.Second}, "upgrade")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.SetGen(ctx, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	s.Grace = 2 * time.Hour
	w := fleet.WindowOf(time.Now().Add(-10*time.Minute), time.Minute)
	r := rand.New(rand.NewPCG(20, 20))
	var every []int64
	for i := range 8 {
		c := &fleet.Contribution{ID: fmt.Sprintf("c%d", i), Service: "upgrade", Host: fmt.Sprintf("web-%02d", i), Window: w}
		for range 2000 {
			v := usTime(r)
			c.All.Total++
			c.All.ReqTime.Add(v)
			every = append(every, v)
		}
		if i%2 == 0 {
			writeOldFormat(ctx, t, s, c)
		} else if _, err := s.Deliver(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	f, err := s.Freeze(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(every)
	vals, counts := f.All.ReqTime.Ascending()
	var got []int64
	for i, v := range vals {
		for range counts[i] {
			got = append(got, v)
		}
	}
	if !slices.Equal(got, every) || f.All.Total != uint64(len(every)) || len(f.Hosts) != 8 {
		t.Fatalf("merged %d values (total %d, %d hosts), want the %d requests", len(got), f.All.Total, len(f.Hosts), len(every))
	}
	for i, p := range fleet.Percentiles {
		if q := f.All.ReqTime.Percentiles(fleet.Percentiles)[i]; q != every[fleet.Rank(p, uint64(len(every)))-1] {
			t.Errorf("p%d = %d, brute force %d", p, q, every[fleet.Rank(p, uint64(len(every)))-1])
		}
	}
}
