package mackerel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"

	mkc "github.com/mackerelio/mackerel-client-go"
)

// PendingFile is the name of the file, in the caller's state directory,
// that keeps the annotations Mackerel did not take yet.
const PendingFile = "mackerel-pending.json"

// Client talks to the Mackerel API for one deploy-tool run: the run's
// annotation (Start, Finish), the annotations earlier runs could not post
// (FlushPending) and the open alerts (OpenAlerts). Every call is bounded by
// Options.Timeout; a failure is one warning line on the warn writer.
type Client struct {
	opts    Options
	api     *mkc.Client
	pending string // path of the pending file
	warn    io.Writer

	mu       sync.Mutex
	run      *entry // this run's annotation, from Start
	monitors map[string]mkc.Monitor
	org      string
}

// New makes a client from validated options. stateDir is deploy-tool's
// state directory (the pending file lives there); warnings go to warn.
// Without a [mackerel] section (opts.Enabled false) it returns a nil
// *Client, whose methods do nothing: callers need no "if".
func New(opts Options, stateDir string, warn io.Writer) (*Client, error) {
	if !opts.Enabled {
		return nil, nil
	}
	api, err := mkc.NewClientWithOptions(string(opts.APIKey), opts.APIBase, false)
	if err != nil {
		return nil, fmt.Errorf("mackerel.apibase: %w", err)
	}
	// Every call carries its own deadline; this one is a backstop.
	api.HTTPClient = &http.Client{Timeout: MaxTimeout}
	api.UserAgent = "deploy-tool"
	return &Client{opts: opts, api: api, pending: filepath.Join(stateDir, PendingFile), warn: warn}, nil
}

// bounded gives one API call its deadline.
func (c *Client) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.Timeout)
}

// warnf writes one warning line. Errors of the client name the URL, never
// the key (it travels in a header).
func (c *Client) warnf(format string, args ...any) {
	if c.warn != nil {
		fmt.Fprintf(c.warn, "deploy-tool: mackerel: "+format+"\n", args...)
	}
}

// short turns an API error into a few words: the status and Mackerel's
// message, or the transport's error with the URL's query left out.
func short(err error) string {
	var ae *mkc.APIError
	var ue *url.Error
	switch {
	case errors.As(err, &ae):
		return fmt.Sprintf("HTTP %d: %s", ae.StatusCode, ae.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	case errors.As(err, &ue):
		return ue.Op + " " + stripQuery(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}

func stripQuery(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		u.RawQuery = ""
		return u.String()
	}
	return raw
}

// permanent reports an answer that repeating the same request cannot
// change: a 4xx other than 401, 403 (a key that may be fixed), 408 and 429.
func permanent(err error) bool {
	var ae *mkc.APIError
	if !errors.As(err, &ae) || ae.StatusCode < 400 || ae.StatusCode >= 500 {
		return false
	}
	switch ae.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return true
}
