package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

const defaultAPIBase = "https://api.mackerelio.com"

// poster posts service metrics to the Mackerel API, as mkr throw --service
// does: POST /api/v0/services/NAME/tsdb with a JSON array.
type poster struct {
	base    string
	apikey  string // never printed
	retries int
	client  *http.Client
}

func newPoster(opts *options) (*poster, error) {
	var conf struct {
		APIKey  string `toml:"apikey"`
		APIBase string `toml:"apibase"`
	}
	key, base := os.Getenv("MACKEREL_APIKEY"), os.Getenv("MACKEREL_APIBASE")
	if opts.APIKeyFile != "" {
		b, err := os.ReadFile(opts.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--apikey-file: %v", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if opts.APIBase != "" {
		base = opts.APIBase
	}
	if key == "" || base == "" {
		if _, err := toml.DecodeFile(opts.AgentConf, &conf); err != nil && (key == "" || !errors.Is(err, os.ErrNotExist)) {
			return nil, fmt.Errorf("--post needs an API key: --apikey-file, $MACKEREL_APIKEY or --agent-conf %s: %v", opts.AgentConf, err)
		}
		key = cmp(key, conf.APIKey)
		base = cmp(base, conf.APIBase)
	}
	if key == "" {
		return nil, fmt.Errorf("--post needs an API key: none in --apikey-file, $MACKEREL_APIKEY or --agent-conf %s", opts.AgentConf)
	}
	base = cmp(base, defaultAPIBase)
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the Mackerel API base %q: want http(s)://host", base)
	}
	return &poster{base: strings.TrimRight(base, "/"), apikey: key, retries: opts.Retries, client: &http.Client{Timeout: 15 * time.Second}}, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// post sends one window's metrics, retrying failures that may pass (network
// errors, 429, 5xx) with a growing pause, within ctx's deadline.
func (p *poster) post(ctx context.Context, service string, ms []metric) error {
	body, err := json.Marshal(ms)
	if err != nil {
		return err
	}
	endpoint := p.base + "/api/v0/services/" + url.PathEscape(service) + "/tsdb"
	var last error
	for attempt := range p.retries {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("post to %s: %v (after %d attempts; last: %v)", endpoint, ctx.Err(), attempt, last)
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		retry, err := p.once(ctx, endpoint, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return fmt.Errorf("post to %s: %v", endpoint, last)
}

func (p *poster) once(ctx context.Context, endpoint string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", p.apikey)
	req.Header.Set("User-Agent", binaryName+"/"+version)
	resp, err := p.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return resp.StatusCode == 429 || resp.StatusCode >= 500,
		fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(strings.ReplaceAll(string(msg), p.apikey, "REDACTED")))
}
