package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

const redisPassword = "s3cretREDISpw"

// fleetRig is 20 hosts' checks, one --fleet-post check, a real Redis with a
// password, the pusher built from source and a local Slack webhook.
type fleetRig struct {
	t      *testing.T
	redis  *fleettest.Redis
	slack  *fakeSlack
	dir    string
	hosts  []*config
	logs   []string
	poster *config
}

func newFleetRig(t *testing.T, hosts int) *fleetRig {
	bin := testenv.BuildBinary(t, "mackerel-service-accesslog/cmd/"+fleet.PushBinary)
	old, oldWindow := findPusher, fleetWindow
	findPusher = func() (string, error) { return bin, nil }
	fleetWindow = 2 * time.Second // windows close fast; the code is the same as for a minute
	t.Cleanup(func() { findPusher, fleetWindow = old, oldWindow })
	t.Setenv(fleet.PasswordEnv, redisPassword)
	r := &fleetRig{t: t, redis: fleettest.StartRedis(t, "--requirepass", redisPassword), slack: newFakeSlack(t), dir: t.TempDir()}
	for h := range hosts {
		name := fmt.Sprintf("web-%02d", h+1)
		log := filepath.Join(r.dir, name, "error.log")
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			t.Fatal(err)
		}
		appendFile(t, log, "")
		r.logs = append(r.logs, log)
		r.hosts = append(r.hosts, newTestConfig(t, nil, "--file", log, "--pattern", "ERROR", "--host-name", name,
			"--from-start", "--mask-numbers", "--state-dir", filepath.Join(r.dir, name, "state"), "--critical", "0",
			"--fleet-redis", r.redis.URL(), "--fleet-service", "web", "--fleet-timeout", "10s"))
	}
	r.poster = newTestConfig(t, map[string]string{webhookEnv: r.slack.url()}, "--fleet-post", "--fleet-redis", r.redis.URL(),
		"--fleet-service", "web", "--fleet-grace", "1s", "--fleet-timeout", "10s", "--state-dir", filepath.Join(r.dir, "poster"), "--critical", "0")
	return r
}

// runHosts appends n(h) errors of each message to host h's log and runs its
// check; it returns what was written, by message and host.
func (r *fleetRig) runHosts(from, to int, msgs map[string]func(h int) int, want map[string]map[string]int) {
	r.t.Helper()
	for h := from; h < to; h++ {
		var b strings.Builder
		for msg, n := range msgs {
			for i := range n(h) {
				fmt.Fprintf(&b, "2026-12-06 12:00:%02d ERROR %s id=%d\n", i%60, msg, 1000+i)
				want[msg][r.hosts[h].host] += 1
			}
		}
		appendFile(r.t, r.logs[h], b.String())
		res := r.hosts[h].run(time.Now())
		if res.Status != check.OK || strings.Contains(res.Message, "fleet:") {
			r.t.Fatalf("host %s: %v %s", r.hosts[h].host, res.Status, res.Message)
		}
	}
}

// alignRound waits for a window to begin, so that a round of 20 runs
// most likely falls in one window (the assertions hold either way).
func alignRound() {
	w := fleet.WindowOf(time.Now(), fleetWindow)
	time.Sleep(time.Until(time.Unix(w.End(), 0).Add(50 * time.Millisecond)))
}

// post waits until the windows written so far have ended (by the clock
// Redis shares with this machine) and runs the poster.
func (r *fleetRig) post() check.Result {
	r.t.Helper()
	alignRound()
	time.Sleep(time.Second) // --fleet-grace
	return r.poster.run(time.Now())
}

var titleRE = regexp.MustCompile(`(?m)^\*(\d+)×\* (.*?) on (web-\d\d \(\d+\)(?:(?:, | and )web-\d\d \(\d+\))?(?: and (\d+) more)?)$`)

// sums adds up the counts of the posts' titles by a word of the message.
func sums(t *testing.T, posts []string, words ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, p := range posts {
		for _, m := range titleRE.FindAllStringSubmatch(p, -1) {
			n, _ := strconv.Atoi(m[1])
			for _, w := range words {
				if strings.Contains(m[2], w) {
					out[w] += n
				}
			}
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestFleetErrorLog: 20 hosts' groups reach Slack as one post per window,
// each group once with its total and its hosts; a Redis restart in the
// middle loses what it held, which is said, and nothing is posted twice;
// no secret is in any output, post or file.
func TestFleetErrorLog(t *testing.T) {
	r := newFleetRig(t, 20)
	if res := r.poster.run(time.Now()); res.Status != check.OK {
		t.Fatalf("first poster run: %v %s", res.Status, res.Message)
	}
	want := map[string]map[string]int{"SQLSTATE": {}, "timeout": {}, "disk": {}}
	alignRound()
	r.runHosts(0, 20, map[string]func(int) int{
		"SQLSTATE[HY000] connection refused": func(h int) int { return h + 1 },
		"timeout after 30 ms":                func(h int) int { return 2 * (h % 3 / 2) },
	}, map[string]map[string]int{"SQLSTATE[HY000] connection refused": want["SQLSTATE"], "timeout after 30 ms": want["timeout"]})
	res := r.post()
	posts, _ := r.slack.got()
	got := sums(t, posts, "SQLSTATE", "timeout")
	if got["SQLSTATE"] != total(want["SQLSTATE"]) || got["timeout"] != total(want["timeout"]) || len(posts) == 0 {
		t.Fatalf("round 1: posted %v, want SQLSTATE %d timeout %d:\n%s\n(check: %s)", got, total(want["SQLSTATE"]), total(want["timeout"]), strings.Join(posts, "\n---\n"), res.Message)
	}
	if res := r.poster.run(time.Now()); len(r.slackPosts()) != len(posts) {
		t.Fatalf("a second poster run posted again: %s", res.Message)
	}

	// Redis restarts empty between two halves of the hosts' deliveries.
	alignRound()
	disk := map[string]func(int) int{"disk full on /var": func(h int) int { return h + 1 }}
	lost := map[string]map[string]int{"disk full on /var": {}}
	r.runHosts(0, 10, disk, lost)
	r.redis.Kill()
	r.redis.Start()
	kept := map[string]map[string]int{"disk full on /var": want["disk"]}
	r.runHosts(10, 20, disk, kept)
	res = r.post()
	all := r.slackPosts()
	again := sums(t, all, "SQLSTATE", "timeout", "disk")
	if again["SQLSTATE"] != got["SQLSTATE"] || again["timeout"] != got["timeout"] {
		t.Errorf("round 1 posted again after the restart: %v, was %v", again, got)
	}
	if again["disk"] != total(want["disk"]) {
		t.Errorf("round 2: posted %d disk errors, want the %d delivered after the restart", again["disk"], total(want["disk"]))
	}
	if !strings.Contains(res.Message, "Redis lost service web's error groups") || !strings.Contains(strings.Join(all[len(posts):], "\n"), "incomplete: Redis lost data") {
		t.Errorf("the loss is not said: check %q, posts:\n%s", res.Message, strings.Join(all[len(posts):], "\n---\n"))
	}
	t.Logf("check: %s\nposts:\n%s", res.Message, strings.Join(all, "\n---\n"))
	r.assertNoSecret(res.Message, all)
}

func (r *fleetRig) slackPosts() []string { p, _ := r.slack.got(); return p }

// assertNoSecret: neither the Redis password nor the webhook's secret path
// is in the messages, the posts, or any file the checks wrote.
func (r *fleetRig) assertNoSecret(msg string, posts []string) {
	r.t.Helper()
	texts := append([]string{msg}, posts...)
	filepath.WalkDir(r.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			texts = append(texts, p+": "+string(b))
		}
		return nil
	})
	for _, s := range texts {
		for _, secret := range []string{redisPassword, secretPath} {
			if strings.Contains(s, secret) {
				r.t.Errorf("secret %q in %.200s", secret, s)
			}
		}
	}
}

func TestHostList(t *testing.T) {
	for _, c := range []struct {
		hosts map[string]uint64
		want  string
	}{
		{map[string]uint64{"web-01": 120}, "web-01 (120)"},
		{map[string]uint64{"web-01": 120, "web-07": 98}, "web-01 (120) and web-07 (98)"},
		{map[string]uint64{"web-01": 120, "web-07": 98, "a": 1, "b": 1, "c": 1, "d": 1, "e": 1}, "web-01 (120), web-07 (98) and 5 more"},
		{map[string]uint64{"<b>": 3, "x": 3}, "&lt;b&gt; (3) and x (3)"},
	} {
		if got := hostList(c.hosts); got != c.want {
			t.Errorf("hostList(%v) = %q, want %q", c.hosts, got, c.want)
		}
	}
}

// TestFleetRedisDownKeepsTheSpool: a host whose Redis is down keeps its
// groups in the spool and says so, without the password; its own check is
// judged as ever; the next run with Redis back delivers them, once.
func TestFleetRedisDownKeepsTheSpool(t *testing.T) {
	r := newFleetRig(t, 1)
	h := r.hosts[0]
	r.redis.Stop()
	appendFile(t, r.logs[0], "ERROR disk full on /var\nERROR disk full on /var\n")
	res := h.run(time.Now())
	if res.Status != check.OK || !strings.Contains(res.Message, "fleet:") || !strings.Contains(res.Message, "kept in") {
		t.Fatalf("Redis down: %v %s", res.Status, res.Message)
	}
	r.assertNoSecret(res.Message, nil)
	r.redis.Start()
	if res := h.run(time.Now()); strings.Contains(res.Message, "fleet:") {
		t.Fatalf("Redis back: %s", res.Message)
	}
	if n, _ := (fleet.Spool{Dir: h.spoolDir()}).Count(); n != 0 {
		t.Fatalf("%d contributions left in the spool", n)
	}
	res = r.post()
	if got := sums(t, r.slackPosts(), "disk"); got["disk"] != 2 {
		t.Fatalf("posted %v, want 2 disk errors (check: %s)", got, res.Message)
	}
}

// FuzzFleetReport: whatever the messages, examples and host names, every
// post of a window stays within maxPostBytes and carries every group.
func FuzzFleetReport(f *testing.F) {
	f.Add("SQLSTATE[HY000] <n>", "line one\nline two", "web-01", 3000)
	f.Add("<&>```", strings.Repeat("é", 5000), strings.Repeat("h", 300), 1)
	f.Fuzz(func(t *testing.T, msg, example, host string, n int) {
		n = 1 + abs(n)%50
		w := &fleet.CollectedWindow{Window: fleet.Window{Start: 1796599380, Len: 60}, Hosts: map[string]int64{host: 1}}
		for i := range n {
			m := fleet.CutText(fmt.Sprintf("%s %d", msg, i), fleet.MaxErrorText)
			w.Errors = append(w.Errors, fleet.ErrorTotal{Message: m, Example: fleet.CutText(example, fleet.MaxErrorText), Count: uint64(i + 1), Hosts: map[string]uint64{host: uint64(i + 1), "b": 1}})
		}
		posts := composeFleetReport("web", w, time.Unix(1796599440, 0))
		titles := 0
		for _, p := range posts {
			if len(p) > maxPostBytes {
				t.Fatalf("post of %d bytes", len(p))
			}
			titles += strings.Count(p, "×* ")
		}
		if titles < n {
			t.Fatalf("%d titles for %d groups", titles, n)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
