package window

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// maxCalendarSize bounds a calendar: Google's export of a busy team
// calendar over years is a few MB.
const maxCalendarSize = 16 << 20

// cacheName names the last good copy's file in the state directory.
const cacheName = "deploy-tool-calendar"

// cache is the last good copy of a calendar URL.
type cache struct {
	Fetched  time.Time `json:"fetched"`
	Calendar string    `json:"calendar"`
}

// CachePath is where the last good copy of o's calendar is kept in
// stateDir. Its name is a hash of the URL, never the URL itself.
func CachePath(stateDir string, o Options) string {
	return state.PathIn(stateDir, cacheName, o.Source)
}

// Load reads the calendar: a file, or a URL fetched within o.FetchTimeout.
// A URL's good answer is kept in stateDir (atomically); when the URL fails,
// hangs or answers what does not parse, that copy is used while it is
// younger than o.MaxAge, with a warning in Schedule.Warning. Past that, or
// without a copy, the error says why and since when. No message shows the
// URL's path or query.
// An empty stateDir is lib/state's default directory.
func Load(ctx context.Context, o Options, stateDir string) (*Schedule, error) {
	now := time.Now()
	if stateDir == "" {
		stateDir = state.Dir()
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if !isURL(o.Source) {
		data, err := cli.ReadRegular(o.Source, maxCalendarSize)
		if err != nil {
			return nil, fmt.Errorf("window.calendar: %v", err)
		}
		s, err := Parse(data, o)
		if err != nil {
			return nil, fmt.Errorf("window.calendar %s: %v", o.Source, err)
		}
		s.Source, s.Fetched = o.Source, now
		return s, nil
	}
	shown := Redact(o.Source)
	data, err := fetch(ctx, o)
	if err == nil {
		s, perr := Parse(data, o)
		if perr == nil {
			s.Source, s.Fetched = o.Source, now
			if err := state.Save(CachePath(stateDir, o), cache{Fetched: now, Calendar: string(data)}); err != nil {
				s.Warning = fmt.Sprintf("calendar %s: the good copy could not be kept for when it is down: %v", shown, err)
			}
			return s, nil
		}
		err = fmt.Errorf("its answer is not a usable calendar: %v", perr)
	}
	return fromCache(o, stateDir, now, err)
}

// fromCache is Load's fallback on the last good copy after fetchErr.
func fromCache(o Options, stateDir string, now time.Time, fetchErr error) (*Schedule, error) {
	shown := Redact(o.Source)
	var c cache
	if err := state.Load(CachePath(stateDir, o), &c); err != nil {
		if errors.Is(err, state.ErrCorrupt) || errors.Is(err, state.ErrUnsafe) {
			return nil, fmt.Errorf("calendar %s: %v; the last good copy is unusable: %v", shown, fetchErr, err)
		}
		return nil, fmt.Errorf("calendar %s: %v; no good copy was ever kept in %s", shown, fetchErr, stateDir)
	}
	age := now.Sub(c.Fetched).Round(time.Minute)
	when := c.Fetched.In(now.Location()).Format(TimeLayout)
	if age > o.MaxAge {
		return nil, fmt.Errorf("calendar %s: %v; the last good copy, fetched %s (%v ago), is older than window.max_age %v: the windows are unknown since then",
			shown, fetchErr, when, cli.Duration(age), cli.Duration(o.MaxAge))
	}
	s, err := Parse([]byte(c.Calendar), o)
	if err != nil {
		return nil, fmt.Errorf("calendar %s: %v; the last good copy (fetched %s) does not parse: %v", shown, fetchErr, when, err)
	}
	s.Source, s.Fetched = o.Source, c.Fetched
	s.Warning = fmt.Sprintf("calendar %s: %v; using the last good copy, fetched %s (%v ago, window.max_age %v)",
		shown, fetchErr, when, cli.Duration(age), cli.Duration(o.MaxAge))
	return s, nil
}

// fetch GETs the calendar within o.FetchTimeout. Its errors never hold
// the URL (net/http's do, in full).
func fetch(ctx context.Context, o Options) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, o.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.Source, nil)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	req.Header.Set("Accept", "text/calendar")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fetchError(ctx, o, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("fetch answered HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCalendarSize+1))
	if err != nil {
		return nil, fetchError(ctx, o, err)
	}
	if len(data) > maxCalendarSize {
		return nil, fmt.Errorf("fetch answered more than %d bytes", maxCalendarSize)
	}
	return data, nil
}

func fetchError(ctx context.Context, o Options, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("fetch got no full answer within window.fetch_timeout %v", cli.Duration(o.FetchTimeout))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("fetch failed: %v", err)
}
