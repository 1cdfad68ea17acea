package outage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
)

// HealthCheck asks the server's health URL until it answers the expected
// status, at most retries times, interval apart. An empty URL passes. It
// stops when ctx ends (a second signal).
func HealthCheck(ctx context.Context, h config.HealthConfig, s config.Server) error {
	if h.URL == "" {
		return nil
	}
	url := config.ExpandURL(h.URL, s)
	client := healthClient(h.Timeout.D())
	var last string
	for i := 0; i < h.Retries; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("health check of %s stopped by a second signal", s.Addr)
			case <-time.After(h.Interval.D()):
			}
		}
		ok, why := probe(ctx, client, url, h.Status)
		if ok {
			return nil
		}
		last = why
	}
	return fmt.Errorf("health check %s failed %d times, last: %s", url, h.Retries, last)
}

// healthClient asks without following redirects: a 3xx is the answer,
// a failure unless health.status names it (a redirect to a page that
// answers 200 would hide a broken app).
func healthClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CheckHealthAll asks every server's health URL (HealthCheck, the servers
// in parallel) and returns the error of each that does not answer, by addr.
func CheckHealthAll(ctx context.Context, h config.HealthConfig, servers []config.Server) map[string]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := map[string]error{}
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := HealthCheck(ctx, h, s); err != nil {
				mu.Lock()
				failed[s.Addr] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// probe asks url once; client's timeout bounds it.
func probe(ctx context.Context, client *http.Client, url string, want int) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Close = true // never reuse a connection to the app that was just restarted
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != want {
		if loc := resp.Header.Get("Location"); loc != "" {
			return false, fmt.Sprintf("status %d (redirect to %.80q, not followed), want %d", resp.StatusCode, loc, want)
		}
		return false, fmt.Sprintf("status %d, want %d", resp.StatusCode, want)
	}
	return true, ""
}
