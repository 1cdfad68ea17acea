package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jessevdk/go-flags"
	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newTestConfig parses args as the binary would, with env as the
// environment, and a state dir of the test's own unless args give one.
func newTestConfig(t testing.TB, env map[string]string, args ...string) *config {
	t.Helper()
	var o options
	if _, err := flags.NewParser(&o, flags.PassDoubleDash).ParseArgs(args); err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	if o.HostName == "" {
		o.HostName = "web-1"
	}
	c, err := newConfig(o, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config %v: %v", args, err)
	}
	return c
}

// appendFile appends s to path, creating it.
func appendFile(t testing.TB, path, s string) {
	t.Helper()
	testenv.AppendFile(t, path, s)
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstLine is the check's message up to its first newline.
func firstLine(r check.Result) string {
	l, _, _ := strings.Cut(r.Message, "\n")
	return l
}

// fakeSlack is a local stand-in for a Slack incoming webhook: it records the
// posts it accepts, and fails or answers slowly on demand.
type fakeSlack struct {
	srv *httptest.Server
	mu  sync.Mutex
	// posts are the texts accepted, in order.
	posts    []string
	attempts int
	// failNext answers the next N requests 500 (echoing the request path in
	// the body, as a careless proxy might, to prove it is never printed).
	failNext int
	// status, when set, answers every request with it (and accepts nothing).
	status int
	// slowAccept accepts the post, then answers only after this long: the
	// case where a client that gave up cannot know Slack took it.
	slowAccept time.Duration
	// slowReject waits this long and accepts nothing.
	slowReject time.Duration
	// tooMany answers the next N requests 429 with Retry-After: 1, as
	// Slack does beyond about one post per second.
	tooMany int
}

// secretPath is the part of the webhook URL that is a secret.
const secretPath = "/services/T000SECRET/B000SECRET/XXXXsecretTOKENxxxx"

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) url() string { return f.srv.URL + secretPath }

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var msg struct{ Text string }
	_ = json.Unmarshal(body, &msg)
	f.mu.Lock()
	f.attempts++
	status, slowAccept, slowReject := f.status, f.slowAccept, f.slowReject
	fail := f.failNext > 0
	if fail {
		f.failNext--
	}
	limited := !fail && f.tooMany > 0
	if limited {
		f.tooMany--
	}
	accept := !fail && !limited && status == 0 && slowReject == 0 && r.URL.Path == secretPath && msg.Text != ""
	if accept {
		f.posts = append(f.posts, msg.Text)
	}
	f.mu.Unlock()
	wait := max(slowAccept, slowReject)
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case limited:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "rate_limited", http.StatusTooManyRequests)
	case fail:
		http.Error(w, "upstream failure at "+r.URL.Path, http.StatusInternalServerError)
	case status != 0:
		http.Error(w, "invalid_payload", status)
	case !accept:
		http.Error(w, "no_service", http.StatusNotFound)
	default:
		io.WriteString(w, "ok")
	}
}

func (f *fakeSlack) set(fn func(f *fakeSlack)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSlack) got() (posts []string, attempts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...), f.attempts
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
