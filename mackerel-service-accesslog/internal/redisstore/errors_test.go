package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// TestErrorGroupsMerge: check-error-log's groups from 20 hosts, each
// delivered twice at once, add up exactly once per group and host, keep
// the first example, and live apart from the access log's windows of the
// same service.
func TestErrorGroupsMerge(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, redisstore.Config{URL: srv.URL(), Kind: fleet.KindErrors})
	access := openStore(t, redisstore.Config{URL: srv.URL()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := fleet.WindowOf(time.Now().Add(-10*time.Minute), time.Minute)
	long := strings.Repeat("é", fleet.MaxErrorText) // cut on a rune boundary
	want := map[string]map[string]uint64{}
	var contribs []*fleet.Contribution
	for h := range 20 {
		host := fmt.Sprintf("web-%02d", h+1)
		c := &fleet.Contribution{ID: host + "-1", Service: "web", Host: host, Window: w}
		for g, msg := range []string{"SQLSTATE[HY000] <n>", "timeout after <n> ms", long} {
			if g == 2 && h%5 != 0 {
				continue
			}
			n := uint64(h*10 + g + 1)
			c.Errors = append(c.Errors, fleet.ErrorGroup{Message: msg, Example: fmt.Sprintf("%s on %s", msg, host), Count: n})
			id := fleet.ErrorID(fleet.CutText(msg, fleet.MaxErrorText))
			if want[id] == nil {
				want[id] = map[string]uint64{}
			}
			want[id][host] = n
		}
		contribs = append(contribs, c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(contribs))
	for _, c := range contribs {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := *c
				if _, err := st.Deliver(ctx, &c, nil); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, err := access.Closed(ctx, time.Now(), 10); err != nil || len(got) != 0 {
		t.Fatalf("the access log's index holds %v (%v): error windows must live apart", got, err)
	}
	f, err := st.Freeze(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Errors) != len(want) {
		t.Fatalf("%d error groups, want %d", len(f.Errors), len(want))
	}
	for id, hosts := range want {
		e := f.Errors[id]
		if e == nil {
			t.Fatalf("group %s missing", id)
		}
		var sum uint64
		for h, n := range hosts {
			sum += n
			if e.Hosts[h] != n {
				t.Errorf("group %q host %s: %d, want %d", e.Message, h, e.Hosts[h], n)
			}
		}
		if e.Count != sum || len(e.Hosts) != len(hosts) {
			t.Errorf("group %q: %d errors on %d hosts, want %d on %d", e.Message, e.Count, len(e.Hosts), sum, len(hosts))
		}
		if !strings.HasPrefix(e.Example, e.Message[:10]) || len(e.Message) > fleet.MaxErrorText || len(e.Example) > fleet.MaxErrorText {
			t.Errorf("group %q: example %q (message %d bytes)", e.Message[:10], e.Example[:10], len(e.Message))
		}
	}
}
