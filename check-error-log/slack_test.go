package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// slackRig is a log, a fake webhook and a check configured for both.
type slackRig struct {
	t     *testing.T
	log   string
	slack *fakeSlack
	c     *config
	now   time.Time
}

func newSlackRig(t *testing.T, args ...string) *slackRig {
	r := &slackRig{t: t, log: filepath.Join(t.TempDir(), "error.log"), slack: newFakeSlack(t), now: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)}
	appendFile(t, r.log, "")
	env := map[string]string{webhookEnv: r.slack.url()}
	r.c = newTestConfig(t, env, append([]string{"-f", r.log, "-p", "PHP Fatal error", "--timeout", "20s", "--slack-timeout", "2s"}, args...)...)
	r.run() // first run: starts at the end
	return r
}

// run is one scheduled run, a minute after the last.
func (r *slackRig) run() check.Result {
	r.t.Helper()
	res := r.c.run(r.now)
	r.now = r.now.Add(time.Minute)
	r.secretKept(res.Message)
	return res
}

// secretKept fails the test when the webhook's secret appears in the
// message or the state file.
func (r *slackRig) secretKept(msg string) {
	r.t.Helper()
	st, _ := os.ReadFile(r.c.statePath)
	for what, s := range map[string]string{"message": msg, "state file": string(st)} {
		if strings.Contains(s, "SECRET") || strings.Contains(s, "secretTOKEN") {
			r.t.Fatalf("the webhook secret is in the %s:\n%s", what, s)
		}
	}
}

func (r *slackRig) phpFatal(n int, msg string) {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[01-Dec-2026 11:00:%02d UTC] PHP Fatal error:  %s in /app/x.php:42\nStack trace:\n#0 {main}\n  thrown in /app/x.php on line 42\n", i%60, msg)
	}
	appendFile(r.t, r.log, b.String())
}

func (r *slackRig) spool() []post {
	r.t.Helper()
	var st savedState
	b, err := os.ReadFile(r.c.statePath)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := jsonUnmarshal(b, &st); err != nil {
		r.t.Fatal(err)
	}
	return st.Slack.Spool
}

func TestSlackPost(t *testing.T) {
	r := newSlackRig(t)
	r.phpFatal(120, "Uncaught Exception: <b>boom</b> & more")
	r.phpFatal(3, "Uncaught Error: other")
	res := r.run()
	if res.Status != check.Critical || res.Message != "123 errors in 2 groups on web-1\n120× PHP Fatal error: Uncaught Exception: <b>boom</b> & more in /app/x.php:42\n3× PHP Fatal error: Uncaught Error: other in /app/x.php:42" {
		t.Errorf("result %v %q", res.Status, res.Message)
	}
	posts, _ := r.slack.got()
	want := "[web-1] 123 errors in 2 groups (check-error-log, 2026-12-01 11:01:00 UTC)\n" +
		"*120×* PHP Fatal error: Uncaught Exception: &lt;b&gt;boom&lt;/b&gt; &amp; more in /app/x.php:42\n" +
		"```\nPHP Fatal error:  Uncaught Exception: &lt;b&gt;boom&lt;/b&gt; &amp; more in /app/x.php:42\nStack trace:\n#0 {main}\n  thrown in /app/x.php on line 42\n```\n" +
		"*3×* PHP Fatal error: Uncaught Error: other in /app/x.php:42\n" +
		"```\nPHP Fatal error:  Uncaught Error: other in /app/x.php:42\nStack trace:\n#0 {main}\n  thrown in /app/x.php on line 42\n```"
	if len(posts) != 1 || posts[0] != want {
		t.Fatalf("posts %q\nwant %q", posts, want)
	}
	// A run without errors posts nothing and is OK.
	if res := r.run(); res.Status != check.OK || res.Message != "no errors on web-1" {
		t.Errorf("quiet run: %v %q", res.Status, res.Message)
	}
	if posts, _ := r.slack.got(); len(posts) != 1 {
		t.Errorf("%d posts after a quiet run", len(posts))
	}
}

// A post that fails is retried within the run and sent once.
func TestSlackRetryWithinRun(t *testing.T) {
	r := newSlackRig(t)
	r.slack.set(func(f *fakeSlack) { f.failNext = 2 })
	r.phpFatal(1, "boom")
	res := r.run()
	posts, attempts := r.slack.got()
	if len(posts) != 1 || attempts != 3 || len(r.spool()) != 0 || strings.Contains(res.Message, "Slack") {
		t.Errorf("%d posts in %d attempts, %d kept; message %q", len(posts), attempts, len(r.spool()), res.Message)
	}
}

// A 429 is retried after its Retry-After, within the run.
func TestSlackRetryAfter(t *testing.T) {
	r := newSlackRig(t)
	r.slack.set(func(f *fakeSlack) { f.tooMany = 1 })
	r.phpFatal(1, "busy")
	res := r.run()
	posts, attempts := r.slack.got()
	if len(posts) != 1 || attempts != 2 || len(r.spool()) != 0 || strings.Contains(res.Message, "Slack") {
		t.Errorf("%d posts in %d attempts, %d kept; message %q", len(posts), attempts, len(r.spool()), res.Message)
	}
}

// Slack down for a whole run: the post is kept on disk and the next run
// sends it, once, before its own, in order.
func TestSlackDownThenDeliveredOnce(t *testing.T) {
	r := newSlackRig(t)
	r.c.o.Timeout = check.Duration(3 * time.Second)
	r.slack.set(func(f *fakeSlack) { f.failNext = 1 << 30 })
	r.phpFatal(2, "first")
	res := r.run()
	if !strings.Contains(res.Message, "Slack: 1 post not delivered (HTTP 500 upstream failure at /<secret>), kept for the next run") {
		t.Errorf("message %q", res.Message)
	}
	if len(r.spool()) != 1 {
		t.Fatalf("%d posts kept, want 1", len(r.spool()))
	}
	r.slack.set(func(f *fakeSlack) { f.failNext = 0 })
	r.phpFatal(1, "second")
	res = r.run()
	posts, _ := r.slack.got()
	if len(posts) != 2 || !strings.Contains(posts[0], "first") || !strings.Contains(posts[1], "second") || len(r.spool()) != 0 {
		t.Fatalf("posts %q, %d kept; message %q", posts, len(r.spool()), res.Message)
	}
	r.run()
	if posts, _ := r.slack.got(); len(posts) != 2 {
		t.Errorf("%d posts after a third run, want 2", len(posts))
	}
}

// A slow Slack: when it has accepted the post but answers after the client
// gave up, the next run sends it again (a duplicate an incoming webhook
// cannot prevent); when it accepted nothing, the post arrives exactly once.
func TestSlackSlow(t *testing.T) {
	for _, accepted := range []bool{true, false} {
		t.Run(fmt.Sprintf("accepted=%v", accepted), func(t *testing.T) {
			r := newSlackRig(t, "--slack-timeout", "500ms")
			r.c.o.Timeout = check.Duration(3 * time.Second)
			r.slack.set(func(f *fakeSlack) {
				if accepted {
					f.slowAccept = time.Minute
				} else {
					f.slowReject = time.Minute
				}
			})
			r.phpFatal(1, "slow")
			start := time.Now()
			res := r.run()
			// Bounded by --timeout, not by Slack's minute: the margin is wide
			// because the machine may be busy; this is no speed target.
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("run took %v with --timeout 3s", took)
			}
			if !strings.Contains(res.Message, "no answer within ") || len(r.spool()) != 1 {
				t.Fatalf("message %q, %d kept", res.Message, len(r.spool()))
			}
			r.slack.set(func(f *fakeSlack) { f.slowAccept, f.slowReject = 0, 0 })
			r.run()
			posts, _ := r.slack.got()
			want := 1
			if accepted {
				want = 2 // every attempt of the first run, plus the second run's
				_, attempts := r.slack.got()
				want = attempts
			}
			if len(posts) != want || len(r.spool()) != 0 {
				t.Errorf("%d posts, want %d; %d kept", len(posts), want, len(r.spool()))
			}
		})
	}
}

// A post Slack refuses as malformed is set aside, not retried forever, and
// said; a webhook that is gone (404) stops delivery and keeps the order.
func TestSlackRefused(t *testing.T) {
	r := newSlackRig(t)
	r.slack.set(func(f *fakeSlack) { f.status = 400 })
	r.phpFatal(1, "one")
	res := r.run()
	if !strings.Contains(res.Message, "Slack refused 1 post as malformed (HTTP 400 invalid_payload)") || len(r.spool()) != 0 {
		t.Errorf("message %q, %d kept", res.Message, len(r.spool()))
	}
	r.slack.set(func(f *fakeSlack) { f.status = 404 })
	r.phpFatal(1, "two")
	r.run()
	r.phpFatal(1, "three")
	res = r.run()
	_, attempts := r.slack.got()
	if !strings.Contains(res.Message, "Slack: 2 posts not delivered (HTTP 404") || len(r.spool()) != 2 || attempts != 3 {
		t.Errorf("message %q, %d kept, %d attempts (want one per run)", res.Message, len(r.spool()), attempts)
	}
	r.slack.set(func(f *fakeSlack) { f.status = 0 })
	r.run()
	posts, _ := r.slack.got()
	if len(posts) != 2 || !strings.Contains(posts[0], "two") || !strings.Contains(posts[1], "three") {
		t.Errorf("posts %q", posts)
	}
}

// --max-posts-per-hour: runs beyond the limit are held back and summed; the
// first run allowed again posts the summary before its own report.
func TestSlackRateLimit(t *testing.T) {
	r := newSlackRig(t, "--max-posts-per-hour", "2")
	for i := range 5 {
		r.phpFatal(i+1, fmt.Sprintf("run %d", i))
		res := r.run()
		if i >= 2 && !strings.Contains(res.Message, "held back") {
			t.Errorf("run %d: %q", i, res.Message)
		}
	}
	if posts, _ := r.slack.got(); len(posts) != 2 {
		t.Fatalf("%d posts within the hour, want 2", len(posts))
	}
	r.now = r.now.Add(time.Hour)
	r.phpFatal(1, "after the hour")
	r.run()
	posts, _ := r.slack.got()
	if len(posts) != 4 {
		t.Fatalf("%d posts, want 4: %q", len(posts), posts)
	}
	sum := posts[2]
	if !strings.HasPrefix(sum, "[web-1] held back since 11:03 UTC by --max-posts-per-hour 2: 12 errors in 3 groups") ||
		!strings.Contains(sum, "*5×* PHP Fatal error: run 4 in") || !strings.Contains(sum, "*3×* PHP Fatal error: run 2 in") {
		t.Errorf("summary %q", sum)
	}
	if !strings.Contains(posts[3], "after the hour") {
		t.Errorf("report %q", posts[3])
	}
}

// A long report is split into posts that each fit, and nothing is cut.
func TestSlackSplit(t *testing.T) {
	r := newSlackRig(t, "--max-trace-lines", "500", "--max-posts-per-hour", "100")
	var b strings.Builder
	for g := range 30 {
		fmt.Fprintf(&b, "[01-Dec-2026 11:00:00 UTC] PHP Fatal error:  Uncaught E%d: %s in /app/x.php:42\nStack trace:\n", g, strings.Repeat("long ", g*20))
		for i := range 3 + g*5 {
			fmt.Fprintf(&b, "#%d /app/src/f%d.php(%d): frame-%d-%d()\n", i, i, i, g, i)
		}
	}
	fmt.Fprintf(&b, "[01-Dec-2026 11:00:00 UTC] PHP Fatal error:  one line of %s\n", strings.Repeat("Q", 9000))
	appendFile(t, r.log, b.String())
	res := r.run()
	posts, _ := r.slack.got()
	if len(posts) < 3 {
		t.Fatalf("%d posts: %q", len(posts), res.Message)
	}
	all := strings.Join(posts, "\n")
	for i, p := range posts {
		if len(p) > maxPostBytes {
			t.Errorf("post %d: %d bytes", i, len(p))
		}
		if !strings.HasPrefix(p, fmt.Sprintf("[web-1] 31 errors in 31 groups (check-error-log, 2026-12-01 11:01:00 UTC) (part %d/%d)\n", i+1, len(posts))) {
			t.Errorf("post %d begins %q", i, p[:100])
		}
		if strings.Count(p, "```")%2 != 0 {
			t.Errorf("post %d has an unclosed code block", i)
		}
	}
	for g := range 30 {
		for i := range 3 + g*5 {
			if !strings.Contains(all, fmt.Sprintf("#%d /app/src/f%d.php(%d): frame-%d-%d()\n", i, i, i, g, i)) {
				t.Fatalf("frame %d of group %d is missing", i, g)
			}
		}
	}
	// The long line's Qs, counted in the code blocks only (the titles
	// repeat the start of the message), are all there.
	qs := 0
	for _, l := range strings.Split(all, "\n") {
		if !strings.HasPrefix(l, "*") && !strings.HasPrefix(l, "[web-1]") {
			qs += strings.Count(l, "Q")
		}
	}
	if qs != 9000 {
		t.Errorf("the 9,000-byte line came out as %d bytes", qs)
	}
}

// No webhook configured: nothing is posted or kept.
func TestNoWebhook(t *testing.T) {
	log := filepath.Join(t.TempDir(), "error.log")
	appendFile(t, log, "")
	c := newTestConfig(t, nil, "-f", log, "-p", "Fatal")
	c.run(time.Now())
	appendFile(t, log, "PHP Fatal error: x\n")
	res := c.run(time.Now())
	if res.Status != check.Critical || strings.Contains(res.Message, "Slack") {
		t.Errorf("%v %q", res.Status, res.Message)
	}
}

// The held-back summary is one post, whatever it holds.
func TestSummaryFits(t *testing.T) {
	c := newTestConfig(t, nil, "-f", "x.log", "-p", "E", "--host-name", strings.Repeat("h", 200))
	h := &held{Since: time.Unix(0, 0), Unlisted: 123456789}
	for i := range maxHeldGroups {
		h.Groups = append(h.Groups, heldGroup{Key: fmt.Sprintf("%d %s", i, strings.Repeat("<&>", 40)), Count: 1000000 + i})
		h.Errors += 1000000 + i
	}
	s := composeSummary(c, h, time.Unix(0, 0))
	if len(s) > maxPostBytes || !strings.Contains(s, "other messages not listed") || !strings.HasSuffix(s, "and 123456789 errors of other messages") {
		t.Errorf("summary of %d bytes:\n%s", len(s), s)
	}
}
