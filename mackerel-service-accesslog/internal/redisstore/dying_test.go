package redisstore_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

var errDied = errors.New("host died")

// TestHostDyingMidDelivery: a host that dies for good after its
// contribution was applied leaves the window in the index, so it is posted;
// one that dies after indexing and before applying leaves an entry without
// data, which the aggregator drops, and if that host comes back after the
// window was dropped, its contribution moves to the open window (and is
// indexed there) instead of landing where no aggregator looks.
func TestHostDyingMidDelivery(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		name := "single"
		if cluster {
			name = "cluster"
		}
		t.Run(name, func(t *testing.T) {
			var url string
			if cluster {
				url = fleettest.StartCluster(t)[0].URL()
			} else {
				url = fleettest.StartRedis(t).URL()
			}
			st := openStore(t, redisstore.Config{URL: url, Cluster: cluster})
			dyingMidDelivery(t, st)
		})
	}
}

func dyingMidDelivery(t *testing.T, st *redisstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now()
	cur := fleet.WindowOf(now, time.Minute)
	w1 := fleet.WindowOf(now.Add(-10*time.Minute), time.Minute)
	w2 := fleet.WindowOf(now.Add(-5*time.Minute), time.Minute)
	r := rand.New(rand.NewPCG(9, 10))

	dieAt := func(step string) {
		redisstore.SetTestHook(st, func(s string) error {
			if s == step {
				return errDied
			}
			return nil
		})
	}
	// Dies after the apply: the window is indexed and holds the lines.
	dieAt("applied")
	a := contributionOf("a-1", "a", w1, randomLines(r, 40, "a", w1))
	if _, err := st.Deliver(ctx, a, nil); !errors.Is(err, errDied) {
		t.Fatalf("delivery a: %v", err)
	}
	// Dies after indexing, before the apply.
	dieAt("indexed")
	b := contributionOf("b-1", "b", w2, randomLines(r, 30, "b", w2))
	if _, err := st.Deliver(ctx, b, nil); !errors.Is(err, errDied) {
		t.Fatalf("delivery b: %v", err)
	}
	redisstore.SetTestHook(st, nil)

	closed, err := st.Closed(ctx, now, 10)
	if err != nil || !slices.Equal(closed, []fleet.Window{w1, w2}) {
		t.Fatalf("closed windows %v (%v), want %v and %v", closed, err, w1, w2)
	}
	f, err := st.Freeze(ctx, w1)
	if err != nil || f.All.Total != 40 {
		t.Fatalf("window of the host that died after applying: %v, %v", f, err)
	}
	if _, err := st.Freeze(ctx, w2); !errors.Is(err, redisstore.ErrGone) {
		t.Fatalf("window indexed but never applied: %v, want ErrGone", err)
	}
	if err := st.Forget(ctx, w2); err != nil {
		t.Fatal(err)
	}
	// b comes back and delivers its spooled contribution: w2 was dropped, so
	// it moves to the open window, which is indexed.
	var moved []fleet.Window
	keep := func(c *fleet.Contribution) error { moved = append(moved, c.Window); return nil }
	out, err := st.Deliver(ctx, b, keep)
	cur = b.Window // the window open by Redis's clock: now's, or the next if a minute began meanwhile
	if err != nil || out != redisstore.Applied || cur.Start < now.Unix()-60 || cur.Start > time.Now().Unix() || !slices.Equal(moved, []fleet.Window{cur}) {
		t.Fatalf("b back: %v %v, window %v (moved %v), want %v", out, err, b.Window, moved, cur)
	}
	// Trying w2 again indexed it again; it is still nothing to post.
	closed, err = st.Closed(ctx, time.Unix(cur.End(), 0), 10)
	if err != nil || !slices.Equal(closed, []fleet.Window{w1, w2, cur}) {
		t.Fatalf("index after b came back: %v (%v), want %v, %v, %v", closed, err, w1, w2, cur)
	}
	if _, err := st.Freeze(ctx, w2); !errors.Is(err, redisstore.ErrGone) {
		t.Fatalf("window that turned b away: %v, want ErrGone", err)
	}
	if f, err := st.Freeze(ctx, cur); err != nil || f.All.Total != 30 {
		t.Fatalf("open window: %v, %v, want b's 30 lines", f, err)
	}
}
