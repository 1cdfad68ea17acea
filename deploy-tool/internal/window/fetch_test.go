package window

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// secretPath is shaped like Google Calendar's secret iCal address: the
// secret is in the path.
const secretPath = "/calendar/ical/shop%40example.com/private-5ecre7t0ken9a8b7c6d5/basic.ics"

// calendarServer serves the Tokyo fixture at secretPath on loopback, or
// answers 500, or never answers, as mode says.
func calendarServer(t *testing.T) (url string, mode *atomic.Value) {
	t.Helper()
	body, err := os.ReadFile("testdata/tokyo.ics")
	if err != nil {
		t.Fatal(err)
	}
	mode = &atomic.Value{}
	mode.Store("ok")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != secretPath {
			http.NotFound(w, r)
			return
		}
		switch mode.Load() {
		case "500":
			http.Error(w, "backend error", http.StatusInternalServerError)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>Sign in to continue</body></html>"))
		case "hang":
			<-r.Context().Done() // until the client gives up
		default:
			w.Header().Set("Content-Type", "text/calendar; charset=UTF-8")
			w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + secretPath, mode
}

func urlOptions(t *testing.T, url string) Options {
	t.Helper()
	o, err := Section{Calendar: url, Allow: "^deploy", Deny: "freeze|maintenance", FetchTimeout: cli.Duration(300 * time.Millisecond)}.Options("")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func noSecret(t *testing.T, what string) {
	t.Helper()
	for _, s := range []string{"private-5ecre7t0ken", "shop%40example", "shop@example", "basic.ics"} {
		if strings.Contains(what, s) {
			t.Errorf("the secret address leaks (%s): %s", s, what)
		}
	}
}

func TestLoadURLAndLastGoodCopy(t *testing.T) {
	t.Parallel()
	url, mode := calendarServer(t)
	o, dir := urlOptions(t, url), t.TempDir()
	monday := time.Date(2026, 12, 7, 10, 30, 0, 0, zone(t, "Asia/Tokyo"))

	s, err := Load(context.Background(), o, dir)
	if err != nil || s.Warning != "" || !s.Decide(monday).Allowed {
		t.Fatalf("Load from the URL: %v, warning %q", err, s.Warning)
	}
	if _, err := os.Stat(CachePath(dir, o)); err != nil {
		t.Fatalf("no last good copy kept: %v", err)
	}

	for _, c := range []struct{ mode, why string }{
		{"500", "fetch answered HTTP 500 Internal Server Error"},
		{"html", "its answer is not a usable calendar: not an iCalendar file"},
		{"hang", "fetch got no full answer within window.fetch_timeout 300ms"},
	} {
		mode.Store(c.mode)
		start := time.Now()
		s, err := Load(context.Background(), o, dir)
		if err != nil {
			t.Fatalf("%s: the last good copy is not used: %v", c.mode, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: Load took %v", c.mode, took)
		}
		if !strings.Contains(s.Warning, c.why) || !strings.Contains(s.Warning, "using the last good copy, fetched") {
			t.Errorf("%s: warning %q, want it to hold %q", c.mode, s.Warning, c.why)
		}
		noSecret(t, s.Warning)
		if !s.Decide(monday).Allowed {
			t.Errorf("%s: the cached calendar does not decide as the fetched one", c.mode)
		}
	}

	// Past max_age the copy is refused, and the error says since when.
	old := time.Now().Add(-25 * time.Hour)
	data, _ := os.ReadFile("testdata/tokyo.ics")
	if err := state.Save(CachePath(dir, o), cache{Fetched: old, Calendar: string(data)}); err != nil {
		t.Fatal(err)
	}
	mode.Store("500")
	_, err = Load(context.Background(), o, dir)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "(25h ago), is older than window.max_age 24h") ||
		!strings.Contains(err.Error(), old.Format(TimeLayout)) {
		t.Errorf("a copy past max_age: %v", err)
	}
	noSecret(t, err.Error())

	// A good answer again replaces the old copy.
	mode.Store("ok")
	if s, err := Load(context.Background(), o, dir); err != nil || s.Warning != "" {
		t.Errorf("the URL is back: %v %q", err, s.Warning)
	}
}

func TestLoadURLWithoutCopy(t *testing.T) {
	t.Parallel()
	url, mode := calendarServer(t)
	mode.Store("hang")
	o := urlOptions(t, url)
	_, err := Load(context.Background(), o, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "within window.fetch_timeout 300ms") || !strings.Contains(err.Error(), "no good copy was ever kept") {
		t.Errorf("a hanging URL without a copy: %v", err)
	}
	noSecret(t, err.Error())

	// A refused connection names the host, never the path.
	o.Source = "http://127.0.0.1:1" + secretPath
	_, err = Load(context.Background(), o, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "calendar http://127.0.0.1:1/…: fetch failed:") {
		t.Errorf("a refused connection: %v", err)
	}
	noSecret(t, err.Error())
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, _ := os.ReadFile("testdata/tokyo.ics")
	if err := os.WriteFile(filepath.Join(dir, "team.ics"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Section{Calendar: "team.ics", Deny: "freeze"}.Options(filepath.Join(dir, "deploy-tool.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(context.Background(), o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jst := zone(t, "Asia/Tokyo")
	// Deny only: allowed outside freezes, until the next one.
	d := s.Decide(time.Date(2026, 12, 22, 9, 0, 0, 0, jst))
	if !d.Allowed || d.Reason != "no freeze now (until Thu 2026-12-24 00:00 JST)" {
		t.Errorf("outside freezes: %+v", d)
	}
	d = s.Decide(time.Date(2026, 12, 25, 9, 0, 0, 0, jst))
	if d.Allowed || d.Reason != `inside freeze "year-end freeze" (until Mon 2027-01-04 00:00 JST)` {
		t.Errorf("inside a freeze: %+v", d)
	}

	o.Source = filepath.Join(dir, "missing.ics")
	if _, err := Load(context.Background(), o, t.TempDir()); err == nil || !strings.Contains(err.Error(), "missing.ics") {
		t.Errorf("a missing file: %v", err)
	}
}
