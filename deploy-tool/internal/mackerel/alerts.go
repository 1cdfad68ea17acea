package mackerel

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	mkc "github.com/mackerelio/mackerel-client-go"
)

// Alert is an open Mackerel alert that concerns the service: on one of its
// hosts (of its roles, when roles are set), or from a monitor of its
// service metrics.
type Alert struct {
	ID        string
	Status    string // WARNING, CRITICAL, UNKNOWN
	Type      string // host, service, connectivity, check…
	MonitorID string
	Monitor   string // the monitor's name, or its ID when unknown
	HostID    string
	Host      string // the host's name; empty for a service metric alert
	Value     float64
	HasValue  bool
	Message   string
	OpenedAt  time.Time
	URL       string // the alert's page; empty when the organization is unknown
}

// String is the alert in one line, for reports and refusals.
func (a Alert) String() string {
	s := a.Status + " " + strconv.Quote(a.Monitor)
	if a.Host != "" {
		s += " on " + a.Host
	}
	if a.HasValue {
		s += ", value " + strconv.FormatFloat(a.Value, 'g', -1, 64)
	}
	s += ", opened " + a.OpenedAt.Local().Format("2006-01-02 15:04:05 MST")
	if a.URL != "" {
		s += ", " + a.URL
	} else {
		s += ", alert " + a.ID
	}
	return s
}

// maxAlertPages bounds the paging through GET /api/v0/alerts (100 a page).
const maxAlertPages = 5

// OpenAlerts returns the open alerts that concern the service, newest
// first. The whole look-up (hosts, alerts, and the monitors and the
// organization when an alert needs naming) shares one Options.Timeout, so
// a slow Mackerel costs a rollout one timeout per batch at most. An error
// is returned, not warned: the caller says what it does without alerts.
func (c *Client) OpenAlerts(ctx context.Context) ([]Alert, error) {
	if c == nil {
		return nil, nil
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	hosts, err := c.api.FindHostsContext(ctx, &mkc.FindHostsParam{Service: c.opts.Service, Roles: c.opts.Roles})
	if err != nil {
		return nil, fmt.Errorf("mackerel: hosts of %s: %s", c.scope(), short(err))
	}
	names := make(map[string]string, len(hosts))
	for _, h := range hosts {
		names[h.ID] = h.Name
	}
	raw, err := c.allAlerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("mackerel: open alerts: %s", short(err))
	}
	var out []Alert
	for _, a := range raw {
		host, onHost := names[a.HostID]
		onHost = onHost && a.HostID != ""
		if !onHost && a.Type != "service" {
			continue
		}
		m, err := c.monitor(ctx, a.MonitorID)
		switch {
		case err != nil && !onHost && permanent(err):
			continue // a monitor gone since: not one of the service's
		case err != nil && !onHost:
			return nil, fmt.Errorf("mackerel: monitor %s: %s", a.MonitorID, short(err))
		case err != nil:
			m = nil // a host alert is ours whatever its monitor: named by ID
		}
		if sm, ok := m.(*mkc.MonitorServiceMetric); !onHost && (!ok || sm.Service != c.opts.Service) {
			continue
		}
		al := Alert{ID: a.ID, Status: a.Status, Type: a.Type, MonitorID: a.MonitorID, Monitor: a.MonitorID,
			HostID: a.HostID, Host: host, Value: a.Value, HasValue: a.Type != "connectivity" && a.Type != "check",
			Message: a.Message, OpenedAt: time.Unix(a.OpenedAt, 0)}
		if m != nil {
			al.Monitor = m.MonitorName()
		}
		out = append(out, al)
	}
	if len(out) > 0 {
		c.addURLs(ctx, out)
	}
	return out, nil
}

// scope names the service and roles, for messages.
func (c *Client) scope() string {
	if len(c.opts.Roles) == 0 {
		return c.opts.Service
	}
	return c.opts.Service + ":" + strings.Join(c.opts.Roles, ",")
}

func (c *Client) allAlerts(ctx context.Context) ([]*mkc.Alert, error) {
	resp, err := c.api.FindAlertsContext(ctx)
	if err != nil {
		return nil, err
	}
	all := resp.Alerts
	for page := 1; resp.NextID != "" && page < maxAlertPages; page++ {
		if resp, err = c.api.FindAlertsByNextIDContext(ctx, resp.NextID); err != nil {
			return nil, err
		}
		all = append(all, resp.Alerts...)
	}
	return all, nil
}

// monitor returns a monitor by ID: from the list read once per client,
// else (a monitor made since) by its own call. nil when id is empty.
func (c *Client) monitor(ctx context.Context, id string) (mkc.Monitor, error) {
	if id == "" {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.monitors == nil {
		list, err := c.api.FindMonitorsContext(ctx)
		if err != nil {
			return nil, err
		}
		c.monitors = make(map[string]mkc.Monitor, len(list))
		for _, m := range list {
			c.monitors[m.MonitorID()] = m
		}
	}
	if m, ok := c.monitors[id]; ok {
		return m, nil
	}
	m, err := c.api.GetMonitorContext(ctx, id)
	if err != nil {
		return nil, err
	}
	c.monitors[id] = m
	return m, nil
}

// addURLs sets each alert's page: https://mackerel.io/orgs/ORG/alerts/ID
// for the default apibase, APIBASE/orgs/ORG/alerts/ID for another one (a
// proxy or a test). Without the organization's name, URLs stay empty.
func (c *Client) addURLs(ctx context.Context, alerts []Alert) {
	c.mu.Lock()
	org := c.org
	c.mu.Unlock()
	if org == "" {
		o, err := c.api.GetOrgContext(ctx)
		if err != nil {
			return
		}
		org = o.Name
		c.mu.Lock()
		c.org = org
		c.mu.Unlock()
	}
	web := c.opts.APIBase
	if web == DefaultAPIBase {
		web = "https://mackerel.io"
	}
	for i := range alerts {
		alerts[i].URL = web + "/orgs/" + url.PathEscape(org) + "/alerts/" + url.PathEscape(alerts[i].ID)
	}
}

// NewSince picks the alerts opened at or after start (to the second, as
// Mackerel stamps them): those a rollout that started at start raised or
// ran into.
func NewSince(alerts []Alert, start time.Time) []Alert {
	var out []Alert
	for _, a := range alerts {
		if !a.OpenedAt.Before(start.Truncate(time.Second)) {
			out = append(out, a)
		}
	}
	return out
}

// OpenAtStartError refuses a rollout over alerts already open.
type OpenAtStartError struct {
	Scope  string
	Alerts []Alert
}

func (e *OpenAtStartError) Error() string {
	var lines []string
	for _, a := range e.Alerts {
		lines = append(lines, a.String())
	}
	return fmt.Sprintf("%d Mackerel alert(s) already open for %s: %s; rollout refused (to deploy over them, a fix for one of them, run again with --ignore-open-alerts)",
		len(e.Alerts), e.Scope, strings.Join(lines, "; "))
}

// Preflight decides on the alerts open when a rollout starts (read with
// OpenAlerts): an *OpenAtStartError when there are some and ignore
// (--ignore-open-alerts) is false, else nil. See the package doc for why.
func (c *Client) Preflight(open []Alert, ignore bool) error {
	if c == nil || len(open) == 0 || ignore {
		return nil
	}
	return &OpenAtStartError{Scope: c.scope(), Alerts: open}
}
