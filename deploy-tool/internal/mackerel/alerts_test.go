package mackerel

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/mackereltest"
)

// fleet fills the fake with two services' hosts and monitors and one open
// alert of each kind; it returns the IDs of the alerts that concern
// shop:app and those that concern the rest of shop, and shop's p95 monitor.
func fleet(f *mackereltest.Server, opened int64) (app, rest []string, p95 string) {
	app1 := f.AddHost(mackereltest.Host{Name: "app-1", Roles: map[string][]string{"shop": {"app"}}})
	web1 := f.AddHost(mackereltest.Host{Name: "web-1", Roles: map[string][]string{"shop": {"web"}}})
	blog1 := f.AddHost(mackereltest.Host{Name: "blog-1", Roles: map[string][]string{"blog": {"app"}}})
	cpu := f.AddMonitor(mackereltest.Monitor{Name: "cpu high", Type: "host"})
	p95 = f.AddMonitor(mackereltest.Monitor{Name: "shop p95", Type: "service", Service: "shop", Metric: "shop.p95"})
	blogP95 := f.AddMonitor(mackereltest.Monitor{Name: "blog p95", Type: "service", Service: "blog", Metric: "blog.p95"})
	app = []string{
		f.OpenAlert(mackereltest.Alert{Type: "host", MonitorID: cpu, HostID: app1, Value: 97.5, OpenedAt: opened}),
		f.OpenAlert(mackereltest.Alert{Type: "service", MonitorID: p95, Value: 1.8, OpenedAt: opened}),
	}
	rest = []string{f.OpenAlert(mackereltest.Alert{Type: "connectivity", HostID: web1, OpenedAt: opened})}
	f.OpenAlert(mackereltest.Alert{Type: "host", MonitorID: cpu, HostID: blog1, Value: 99, OpenedAt: opened})
	f.OpenAlert(mackereltest.Alert{Type: "service", MonitorID: blogP95, Value: 3, OpenedAt: opened})
	return app, rest, p95
}

func ids(alerts []Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.ID)
	}
	slices.Sort(out)
	return out
}

func TestOpenAlertsOfTheServiceAndRoles(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.SetOrg("acme")
	app, rest, _ := fleet(f, 1_800_000_000)
	for _, tc := range []struct {
		roles []string
		want  []string
	}{{[]string{"app"}, app}, {nil, append(slices.Clone(app), rest...)}} {
		c, _ := newClient(t, f, t.TempDir(), tc.roles...)
		got, err := c.OpenAlerts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(ids(got), want) {
			t.Errorf("roles %v: alerts %v, want %v", tc.roles, ids(got), want)
		}
	}
	c, _ := newClient(t, f, t.TempDir(), "app")
	got, _ := c.OpenAlerts(context.Background())
	byID := map[string]Alert{}
	for _, a := range got {
		byID[a.ID] = a
	}
	host, svc := byID[app[0]], byID[app[1]]
	if host.Monitor != "cpu high" || host.Host != "app-1" || host.Value != 97.5 || host.URL != f.URL+"/orgs/acme/alerts/"+app[0] {
		t.Errorf("host alert: %+v", host)
	}
	if s := svc.String(); svc.Monitor != "shop p95" || svc.Host != "" || !strings.Contains(s, `CRITICAL "shop p95", value 1.8, opened `) || !strings.HasSuffix(s, "/orgs/acme/alerts/"+app[1]) {
		t.Errorf("service alert: %+v\n%s", svc, s)
	}
}

// The case of a rollout: nothing new before batch 1, an alert the fake
// opens after it is new, one open before the start is not.
func TestNewSinceTheRolloutStarted(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	start := time.Now()
	app, _, p95 := fleet(f, start.Add(-time.Hour).Unix())
	c, _ := newClient(t, f, t.TempDir(), "app")
	open, err := c.OpenAlerts(context.Background())
	if err != nil || len(open) != 2 || len(NewSince(open, start)) != 0 {
		t.Fatalf("before batch 1: %v, %d open, %d new", err, len(open), len(NewSince(open, start)))
	}
	var perr *OpenAtStartError
	if err := c.Preflight(open, false); !errors.As(err, &perr) || !strings.Contains(err.Error(), "--ignore-open-alerts") || !strings.Contains(err.Error(), "app-1") {
		t.Errorf("preflight: %v", err)
	}
	if err := c.Preflight(open, true); err != nil {
		t.Errorf("preflight with --ignore-open-alerts: %v", err)
	}
	f.CloseAlert(app[0], start.Unix())
	id := f.OpenAlert(mackereltest.Alert{Type: "service", MonitorID: p95, Value: 2.4, OpenedAt: time.Now().Unix()})
	open, err = c.OpenAlerts(context.Background())
	fresh := NewSince(open, start)
	if err != nil || len(open) != 2 || len(fresh) != 1 || fresh[0].ID != id || fresh[0].Monitor != "shop p95" || fresh[0].Value != 2.4 {
		t.Fatalf("after batch 1: %v, open %+v, new %+v", err, open, fresh)
	}
}

// A hanging or failing API gives an error within the timeout.
func TestOpenAlertsBounded(t *testing.T) {
	t.Parallel()
	for name, knob := range map[string]func(*mackereltest.Server){
		"hang": func(f *mackereltest.Server) { f.HangNext(1) },
		"500":  func(f *mackereltest.Server) { f.FailNext(1) },
	} {
		f := newFake(t)
		fleet(f, time.Now().Unix())
		c, _ := newClient(t, f, t.TempDir())
		knob(f)
		start := time.Now()
		_, err := c.OpenAlerts(context.Background())
		if took := time.Since(start); err == nil || took > 2*time.Second {
			t.Errorf("%s: OpenAlerts returned %v after %v, want an error within the timeout", name, err, took)
		}
		if _, err := c.OpenAlerts(context.Background()); err != nil {
			t.Errorf("%s: the next call: %v", name, err)
		}
	}
}

// The guard a rollout asks before each batch: refused over open alerts,
// or gone on with --ignore-open-alerts, and stopped by an alert the fake
// opens after batch 1 only.
func TestGuard(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	start := time.Now()
	app, _, p95 := fleet(f, start.Unix()) // open at preflight, stamped in the same second
	c, warn := newClient(t, f, t.TempDir(), "app")
	c.opts.StopOnAlert = true
	if g, err := c.Watch(context.Background(), start, false); g != nil || err == nil {
		t.Fatalf("Watch over open alerts: %v, %v; want a refusal", g, err)
	}
	g, err := c.Watch(context.Background(), start, true)
	if err != nil || !strings.Contains(warn.String(), "ignored (--ignore-open-alerts)") {
		t.Fatalf("Watch with --ignore-open-alerts: %v, %q", err, warn)
	}
	if got := g.Check(context.Background()); len(got) != 0 {
		t.Fatalf("before batch 1: %v", got)
	}
	f.CloseAlert(app[1], start.Unix())
	id := f.OpenAlert(mackereltest.Alert{Type: "service", MonitorID: p95, Value: 2.4, OpenedAt: time.Now().Unix()})
	got := g.Check(context.Background())
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("after batch 1: %+v", got)
	}
	if msg := (&AlertStopError{Alerts: got}).Error(); !strings.Contains(msg, `"shop p95", value 2.4`) || !strings.Contains(msg, "/alerts/"+id) {
		t.Errorf("report: %s", msg)
	}
	f.HangNext(1)
	if got := g.Check(context.Background()); got != nil || !strings.Contains(warn.String(), "alerts not checked") {
		t.Errorf("Check on a hanging API: %v, %q", got, warn)
	}
}

// Without [mackerel], every method of the nil client and guard does nothing.
func TestNilClient(t *testing.T) {
	t.Parallel()
	c, err := New(Options{}, t.TempDir(), nil)
	if c != nil || err != nil {
		t.Fatalf("New without the section: %v, %v", c, err)
	}
	ctx := context.Background()
	g, err := c.Watch(ctx, time.Now(), false)
	n, ferr := c.FlushPending(ctx)
	if c.Start(ctx, "t", "", time.Now()) != nil || c.Finish(ctx, "t", "", time.Now()) != nil || err != nil || g.Check(ctx) != nil || n != 0 || ferr != nil {
		t.Error("a nil client did something")
	}
}
