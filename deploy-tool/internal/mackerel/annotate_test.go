package mackerel

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/mackereltest"
	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testKey = "test-api-key-0123"

func newFake(t *testing.T) *mackereltest.Server {
	t.Helper()
	f := mackereltest.New(testKey)
	t.Cleanup(f.Close)
	return f
}

// newClient is a client of the fake with a short timeout, keeping its
// pending file in dir.
func newClient(t *testing.T, f *mackereltest.Server, dir string, roles ...string) (*Client, *testenv.Buffer) {
	t.Helper()
	warn := &testenv.Buffer{}
	c, err := New(Options{Enabled: true, Service: "shop", Roles: roles, APIBase: f.URL, APIKey: testKey, Timeout: 300 * time.Millisecond}, dir, warn)
	if err != nil {
		t.Fatal(err)
	}
	return c, warn
}

func pendingCount(t *testing.T, c *Client) int {
	t.Helper()
	n, err := c.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTitles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Version: "v2", Service: "shop", State: Done, Servers: 12}, "deploy v2 to shop: done, 12 servers"},
		{Result{Version: "v2", Service: "shop", State: Stopped, Batch: 3, Why: "alert \"p95\"\non app-1"}, `deploy v2 to shop: STOPPED at batch 3: alert "p95" on app-1`},
		{Result{Service: "shop", State: Running, Servers: 1}, "deploy to shop: in progress, 1 server"},
		{Result{Verb: "down/up", Service: "shop", State: Done, Servers: 1}, "down/up to shop: done, 1 server"},
		{Result{Service: "shop", State: Stopped, Batch: 1, Why: strings.Repeat("x", 300)}, "deploy to shop: STOPPED at batch 1: " + strings.Repeat("x", 99) + "…"},
	} {
		if got := tc.r.Title(); got != tc.want {
			t.Errorf("Title() = %q, want %q", got, tc.want)
		}
	}
	r := Result{Plan: "2 batches of 1", Each: []ServerResult{{"app-1", "done"}, {"app-2", "not started"}}, Notes: []string{"outside the window: hotfix"}}
	if got, want := r.Description(), "2 batches of 1\napp-1: done\napp-2: not started\noutside the window: hotfix"; got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}
}

// The annotation spans from the first server out to the last back up, and
// the real mkr reads it back with its title, roles and span.
func TestAnnotationSpansTheRunReadBackByMkr(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, warn := newClient(t, f, t.TempDir(), "app")
	ctx := context.Background()
	from := time.Unix(1_800_000_000, 0)
	to := from.Add(7 * time.Minute)
	if err := c.Start(ctx, "deploy v2 to shop: in progress, 2 servers", "plan", from); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(ctx, "deploy v2 to shop: done, 2 servers", "plan\napp-1: done\napp-2: done", to); err != nil {
		t.Fatal(err)
	}
	if warn.String() != "" || pendingCount(t, c) != 0 {
		t.Errorf("a run without failures warned %q or left %d pending", warn, pendingCount(t, c))
	}
	mkr := testenv.Tool(t, "mkr")
	r := testenv.Run(t, mkr, []string{"MACKEREL_APIKEY=" + testKey}, "--apibase", f.URL, "annotations", "list",
		"--service", "shop", "--from", strconv.FormatInt(from.Unix()-60, 10), "--to", strconv.FormatInt(to.Unix()+60, 10))
	if r.Code != 0 {
		t.Fatalf("mkr annotations list: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var list []struct {
		ID, Title, Description, Service string
		From, To                        int64
		Roles                           []string
	}
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("mkr output: %v\n%s", err, r.Stdout)
	}
	if len(list) != 1 {
		t.Fatalf("mkr lists %d annotations, want 1:\n%s", len(list), r.Stdout)
	}
	a := list[0]
	if a.Title != "deploy v2 to shop: done, 2 servers" || a.From != from.Unix() || a.To != to.Unix() ||
		len(a.Roles) != 1 || a.Roles[0] != "app" || !strings.HasPrefix(a.Description, "plan\napp-1: done") {
		t.Errorf("mkr read back %+v", a)
	}
}

// A create that hangs costs one timeout and a warning; Finish posts the
// annotation, once.
func TestHangingCreateDoesNotHoldTheRun(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, warn := newClient(t, f, t.TempDir())
	f.HangNext(1)
	start := time.Now()
	err := c.Start(context.Background(), "t1", "", start)
	if took := time.Since(start); err == nil || took > 2*time.Second {
		t.Fatalf("Start on a hanging API: err %v after %v, want an error within the timeout", err, took)
	}
	if !strings.Contains(warn.String(), "kept in") || strings.Count(warn.String(), "\n") != 1 {
		t.Errorf("warning: %q", warn)
	}
	if n := pendingCount(t, c); n != 1 {
		t.Fatalf("pending after a failed create: %d, want 1", n)
	}
	if err := c.Finish(context.Background(), "t2", "", start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := f.Annotations(); len(got) != 1 || got[0].Title != "t2" {
		t.Errorf("annotations: %+v", got)
	}
	if n := pendingCount(t, c); n != 0 {
		t.Errorf("pending after Finish: %d", n)
	}
}

// A create that landed but whose answer was lost is found by its mark and
// updated, not created again.
func TestLostAnswerIsNotCreatedTwice(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := newClient(t, f, t.TempDir())
	f.LoseNextAnswers(1)
	now := time.Now()
	if err := c.Start(context.Background(), "t1", "d", now); err == nil {
		t.Fatal("Start with a lost answer reported success")
	}
	if got := f.Annotations(); len(got) != 1 {
		t.Fatalf("the create did not land in the fake: %+v", got)
	}
	if err := c.Finish(context.Background(), "t2", "d", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := f.Annotations(); len(got) != 1 || got[0].Title != "t2" || got[0].To != now.Add(time.Minute).Unix() {
		t.Errorf("annotations after Finish: %+v", got)
	}
}

// What a run could not post, the next run posts, exactly once.
func TestPendingPostedByTheNextRunOnce(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	dir := t.TempDir()
	c1, _ := newClient(t, f, dir)
	now := time.Now()
	f.FailNext(2)
	c1.Start(context.Background(), "t1", "", now)
	c1.Finish(context.Background(), "done", "", now.Add(time.Minute))
	if len(f.Annotations()) != 0 || pendingCount(t, c1) != 1 {
		t.Fatalf("after two failures: %d annotations, %d pending", len(f.Annotations()), pendingCount(t, c1))
	}
	c2, _ := newClient(t, f, dir)
	for i, want := range []int{1, 0} {
		n, err := c2.FlushPending(context.Background())
		if err != nil || n != want {
			t.Fatalf("flush %d: posted %d (%v), want %d", i, n, err, want)
		}
	}
	if got := f.Annotations(); len(got) != 1 || got[0].Title != "done" {
		t.Errorf("annotations: %+v", got)
	}
}

// A run killed after a failed Start leaves its annotation pending; another
// process leaves it alone while that run lives, and posts it once it is gone.
func TestPendingOfARunningRunIsLeftToIt(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	dir := t.TempDir()
	c1, _ := newClient(t, f, dir)
	f.FailNext(1)
	c1.Start(context.Background(), "t1", "", time.Now())
	c2, _ := newClient(t, f, dir)
	if n, err := c2.FlushPending(context.Background()); n != 0 || err != nil {
		t.Fatalf("flush posted %d (%v) of a live run", n, err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, PendingFile)
	var p pendingFile
	if err := state.Load(path, &p); err != nil || len(p.Annotations) != 1 {
		t.Fatalf("pending file: %v %+v", err, p)
	}
	p.Annotations[0].PID = cmd.Process.Pid // a run that is gone
	if err := state.Save(path, &p); err != nil {
		t.Fatal(err)
	}
	if n, err := c2.FlushPending(context.Background()); n != 1 || err != nil {
		t.Fatalf("flush of a dead run's annotation: posted %d (%v)", n, err)
	}
	if got := f.Annotations(); len(got) != 1 || got[0].Title != "t1" {
		t.Errorf("annotations: %+v", got)
	}
}

// With Mackerel down, a flush of many costs one bounded call and keeps all.
func TestFlushStopsAtTheFirstFailure(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	dir := t.TempDir()
	for range 3 {
		c, _ := newClient(t, f, dir)
		f.FailNext(2)
		c.Start(context.Background(), "t", "", time.Now())
		c.Finish(context.Background(), "t", "", time.Now())
	}
	c, warn := newClient(t, f, dir)
	f.HangNext(1)
	start := time.Now()
	n, err := c.FlushPending(context.Background())
	if took := time.Since(start); err == nil || n != 0 || took > 2*time.Second {
		t.Fatalf("flush on a hanging API: posted %d, err %v, after %v", n, err, took)
	}
	if got := pendingCount(t, c); got != 3 || !strings.Contains(warn.String(), "3 graph annotation(s) still pending") {
		t.Errorf("pending %d, warning %q", got, warn)
	}
}

// An annotation Mackerel refuses (400) is dropped, not retried forever.
func TestRefusedAnnotationIsDropped(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	dir := t.TempDir()
	c, warn := newClient(t, f, dir)
	f.FailNextWith(1, 400)
	c.Start(context.Background(), "t", "", time.Now())
	if pendingCount(t, c) != 0 || !strings.Contains(warn.String(), "dropped") {
		t.Errorf("pending %d, warning %q", pendingCount(t, c), warn)
	}
	if _, err := os.Stat(filepath.Join(dir, PendingFile)); err == nil {
		t.Error("pending file written")
	}
}

// down and up are two processes: the annotation down starts, up finishes,
// one annotation spanning both, even when down's create failed.
func TestParkedFromDownToUp(t *testing.T) {
	t.Parallel()
	for _, failStart := range []bool{false, true} {
		f := newFake(t)
		dir := t.TempDir()
		down, _ := newClient(t, f, dir)
		from := time.Now()
		if failStart {
			f.LoseNextAnswers(1)
		}
		down.Start(context.Background(), "down/up to shop: in progress, 1 server", "", from)
		if err := down.Park("10.0.0.1:80"); err != nil {
			t.Fatal(err)
		}
		up, _ := newClient(t, f, dir)
		if n, _ := up.FlushPending(context.Background()); n != 0 || pendingCount(t, up) != 0 {
			t.Errorf("flush posted %d parked annotations", n)
		}
		if ok, err := up.Unpark("10.0.0.1:80"); !ok || err != nil {
			t.Fatalf("Unpark: %v %v", ok, err)
		}
		if err := up.Finish(context.Background(), "down/up to shop: done, 1 server", "", from.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got := f.Annotations()
		if len(got) != 1 || got[0].Title != "down/up to shop: done, 1 server" || got[0].To-got[0].From != 3600 {
			t.Errorf("lost answer %v: annotations %+v", failStart, got)
		}
		if ok, _ := up.Unpark("10.0.0.1:80"); ok || pendingCount(t, up) != 0 {
			t.Errorf("parked entry left behind")
		}
	}
}
