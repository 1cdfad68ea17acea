package mackereltest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	mkc "github.com/mackerelio/mackerel-client-go"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newFake(t *testing.T) (*Server, *mkc.Client) {
	t.Helper()
	s := New("secret-key")
	t.Cleanup(s.Close)
	c, err := mkc.NewClientWithOptions("secret-key", s.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := newFake(t)
	c, _ := mkc.NewClientWithOptions("other", s.URL, false)
	_, err := c.GetOrgContext(context.Background())
	var ae *mkc.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("wrong key: got %v, want a 401 APIError", err)
	}
}

// The real mkr throw posts service metrics; the fake records them.
func TestMkrThrowServiceMetrics(t *testing.T) {
	t.Parallel()
	s, _ := newFake(t)
	mkr := testenv.Tool(t, "mkr")
	cmd := "printf 'shop.p95\\t1.5\\t1700000000\\nshop.count\\t42\\t1700000000\\n' | " + mkr + " --apibase " + s.URL + " throw --service shop"
	r := testenv.Run(t, "sh", []string{"MACKEREL_APIKEY=secret-key"}, "-c", cmd)
	if r.Code != 0 {
		t.Fatalf("mkr throw: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	got := s.Metrics("shop")
	if len(got) != 2 || got[0] != (Metric{"shop.p95", 1700000000, 1.5}) || got[1].Value != 42 {
		t.Fatalf("metrics received: %+v", got)
	}
}

func TestAnnotationsCreateUpdateList(t *testing.T) {
	t.Parallel()
	s, c := newFake(t)
	ctx := context.Background()
	a, err := c.CreateGraphAnnotationContext(ctx, &mkc.GraphAnnotation{Service: "shop", Roles: []string{"app"}, Title: "t1", From: 100, To: 100})
	if err != nil || a.ID == "" {
		t.Fatalf("create: %v %+v", err, a)
	}
	if _, err := c.UpdateGraphAnnotationContext(ctx, a.ID, &mkc.GraphAnnotation{Service: "shop", Title: "t2", From: 100, To: 200}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateGraphAnnotationContext(ctx, "nope", &mkc.GraphAnnotation{Service: "shop", Title: "x", From: 1, To: 2}); err == nil {
		t.Error("update of an unknown annotation succeeded")
	}
	for _, tc := range []struct {
		service  string
		from, to int64
		want     int
	}{{"shop", 150, 300, 1}, {"shop", 201, 300, 0}, {"other", 0, 300, 0}} {
		list, err := c.FindGraphAnnotationsContext(ctx, tc.service, tc.from, tc.to)
		if err != nil || len(list) != tc.want {
			t.Errorf("list %s %d-%d: %v, %d annotations, want %d", tc.service, tc.from, tc.to, err, len(list), tc.want)
		}
	}
	if got := s.Annotations(); len(got) != 1 || got[0].Title != "t2" || got[0].To != 200 {
		t.Errorf("annotations: %+v", got)
	}
}

func TestAlertsHostsMonitors(t *testing.T) {
	t.Parallel()
	s, c := newFake(t)
	ctx := context.Background()
	web := s.AddHost(Host{Name: "web-1", Roles: map[string][]string{"shop": {"web"}}})
	s.AddHost(Host{Name: "app-1", Roles: map[string][]string{"shop": {"app"}}})
	mon := s.AddMonitor(Monitor{Name: "p95", Type: "service", Service: "shop", Metric: "shop.p95"})
	id := s.OpenAlert(Alert{MonitorID: mon, Type: "service", Value: 2.5, OpenedAt: 1000})
	s.OpenAlert(Alert{Type: "connectivity", HostID: web, OpenedAt: 900})

	hosts, err := c.FindHostsContext(ctx, &mkc.FindHostsParam{Service: "shop", Roles: []string{"web"}})
	if err != nil || len(hosts) != 1 || hosts[0].Name != "web-1" {
		t.Fatalf("hosts of shop:web: %v %+v", err, hosts)
	}
	m, err := c.GetMonitorContext(ctx, mon)
	if sm, ok := m.(*mkc.MonitorServiceMetric); err != nil || !ok || sm.Service != "shop" || sm.Name != "p95" {
		t.Fatalf("monitor: %v %#v", err, m)
	}
	alerts, err := c.FindAlertsContext(ctx)
	if err != nil || len(alerts.Alerts) != 2 || alerts.Alerts[1].Type != "service" || alerts.Alerts[1].Value != 2.5 {
		t.Fatalf("alerts: %v %+v", err, alerts)
	}
	s.CloseAlert(id, 2000)
	if alerts, _ := c.FindAlertsContext(ctx); len(alerts.Alerts) != 1 {
		t.Fatalf("closed alert still listed: %+v", alerts.Alerts)
	}
}

func TestFailAndHang(t *testing.T) {
	t.Parallel()
	s, c := newFake(t)
	s.FailNext(1)
	var ae *mkc.APIError
	if _, err := c.GetOrgContext(context.Background()); !errors.As(err, &ae) || ae.StatusCode != 500 {
		t.Fatalf("FailNext: got %v, want a 500", err)
	}
	s.HangNext(1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.GetOrgContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("HangNext: got %v, want the deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("hung call returned after %v", took)
	}
	org, err := c.GetOrgContext(context.Background())
	if err != nil || org.Name != "test-org" {
		t.Fatalf("after the knobs: %v %+v", err, org)
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Status != 500 || reqs[1].Status != 0 || reqs[2].Status != 200 || !strings.HasPrefix(reqs[2].Path, "/api/v0/org") {
		t.Errorf("requests recorded: %+v", reqs)
	}
}
