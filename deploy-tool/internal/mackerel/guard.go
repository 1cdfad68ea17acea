package mackerel

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Guard is stop_on_alert for one rollout: made at preflight by Watch,
// asked by Check before each batch and during the canary pause. A nil
// *Guard (no [mackerel], or stop_on_alert off) never finds an alert.
type Guard struct {
	c     *Client
	start time.Time
	known map[string]bool // open at preflight, gone on with --ignore-open-alerts
}

// Watch reads the alerts open when a rollout starts (start: before anything
// is touched). Alerts already open refuse the rollout with an
// *OpenAtStartError unless ignoreOpen (--ignore-open-alerts), in which case
// each is named in a notice line and never stops the rollout. When
// Mackerel cannot be read, a warning, and the rollout goes on guarded by
// the alerts opened after start.
func (c *Client) Watch(ctx context.Context, start time.Time, ignoreOpen bool) (*Guard, error) {
	if c == nil || !c.opts.StopOnAlert {
		return nil, nil
	}
	g := &Guard{c: c, start: start, known: map[string]bool{}}
	open, err := c.OpenAlerts(ctx)
	if err != nil {
		c.warnf("%v; the rollout goes on, stopped by alerts opened from now on", err)
		return g, nil
	}
	if err := c.Preflight(open, ignoreOpen); err != nil {
		return nil, err
	}
	for _, a := range open {
		g.known[a.ID] = true
		c.warnf("alert already open, ignored (--ignore-open-alerts): %s", a)
	}
	return g, nil
}

// Check returns the alerts of the service opened since the rollout started
// (none when Mackerel cannot be read: a warning, and the rollout goes on).
func (g *Guard) Check(ctx context.Context) []Alert {
	if g == nil {
		return nil
	}
	open, err := g.c.OpenAlerts(ctx)
	if err != nil {
		g.c.warnf("%v; alerts not checked before this batch", err)
		return nil
	}
	var out []Alert
	for _, a := range NewSince(open, g.start) {
		if !g.known[a.ID] {
			out = append(out, a)
		}
	}
	return out
}

// AlertStopError is the reason a rollout stopped on alerts: each alert in
// one line with its monitor, host, value and URL.
type AlertStopError struct {
	Alerts []Alert
}

func (e *AlertStopError) Error() string {
	var lines []string
	for _, a := range e.Alerts {
		lines = append(lines, a.String())
	}
	return fmt.Sprintf("Mackerel alert opened during the rollout: %s", strings.Join(lines, "; "))
}
