package main

// The front-end gate: after a batch is back in rotation and before the next
// one is taken out, the service is probed through its front end (a URL the
// config names, e.g. the load balancer's own health page). A probe that
// does not answer the expected status stops the rollout with the servers
// left as they are: the batch just done stays up, nothing of the next one
// is touched.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
)

// gate probes the front end after batch i (0-based) of n; every probe must
// answer gate.status.
func (e *Engine) gate(i, n int, batch []config.Server) error {
	g := e.cfg.Gate
	if g.URL == "" {
		return nil
	}
	client := &http.Client{
		Timeout:       g.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var seen []string
	failed := 0
	for p := 1; p <= g.Probes; p++ {
		if p > 1 {
			select {
			case <-e.ctx.Done():
				return fmt.Errorf("%w during the front-end gate after batch %d", outage.ErrInterrupted, i+1)
			case <-time.After(g.Interval.D()):
			}
		}
		status, why := gateProbe(client, g.URL)
		if status != g.Status {
			failed++
		}
		seen = append(seen, fmt.Sprintf("probe %d: %s", p, why))
	}
	if failed == 0 {
		e.log.Printf("gate: %s answered %d of %d probes with %d", g.URL, g.Probes, g.Probes, g.Status)
		return nil
	}
	return fmt.Errorf("front-end gate %s failed after batch %d/%d: %d of %d probes did not answer %d (%s); servers left as they are: batch %d (%s) is deployed and in rotation, nothing of batch %d was touched",
		g.URL, i+1, n, failed, g.Probes, g.Status, strings.Join(seen, "; "), i+1, config.Labels(batch), i+2)
}

// gateProbe returns the status (0 when there was no answer) and what was seen.
func gateProbe(client *http.Client, url string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	req.Close = true
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "no answer: " + err.Error()
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, fmt.Sprintf("%s in %dms", resp.Status, time.Since(t0).Milliseconds())
}
