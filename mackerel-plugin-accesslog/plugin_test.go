package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/metricname"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pluginRun is one execution of the real binary.
type pluginRun struct {
	code    int
	stdout  string
	stderr  string
	took    time.Duration
	metrics map[string]float64
}

// runPlugin runs the built binary with MACKEREL_PLUGIN_WORKDIR=workdir.
func runPlugin(t testing.TB, workdir string, env []string, args ...string) pluginRun {
	t.Helper()
	bin := testenv.BuildBinary(t, "mackerel-plugin-accesslog")
	if slices.Contains(args, "--fleet-redis") {
		usePusher(t) // found beside bin
	}
	r := testenv.Run(t, bin, append([]string{"MACKEREL_PLUGIN_WORKDIR=" + workdir}, env...), args...)
	run := pluginRun{code: r.Code, stdout: r.Stdout, stderr: r.Stderr, took: r.Took}
	if r.Code == 0 && !strings.HasPrefix(r.Stdout, "# mackerel-agent-plugin") {
		run.metrics = testenv.Metrics(t, r.Stdout)
	}
	return run
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	testenv.AppendFile(t, path, s)
}

func ltsvLine(status int, reqtime string) string {
	return fmt.Sprintf("time:25/Nov/2026:12:00:00 +0900\thost:192.0.2.1\treq:GET /x HTTP/1.1\tstatus:%d\tsize:100\treqtime:%s\tvhost:www\n", status, reqtime)
}

func TestFirstRunEmitsZeroRatesThenCountsAppendedLines(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, ltsvLine(200, "0.100")+ltsvLine(500, "0.200"))
	r := runPlugin(t, dir, nil, "--file", log)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.metrics["accesslog.access_num.total_count"] != 0 || r.metrics["accesslog.rps.total"] != 0 {
		t.Fatalf("first run counted existing lines: %v", r.metrics)
	}
	if _, ok := r.metrics["accesslog.latency.average"]; ok {
		t.Fatal("latency reported for an interval without requests")
	}
	writeFile(t, log, ltsvLine(200, "0.010")+ltsvLine(200, "0.020")+ltsvLine(502, "1.500")+ltsvLine(499, "-"))
	r = runPlugin(t, dir, nil, "--file", log)
	m := r.metrics
	checks := map[string]float64{
		"accesslog.access_num.total_count":          4,
		"accesslog.access_num.2xx_count":            2,
		"accesslog.access_num.5xx_count":            1,
		"accesslog.access_num.4xx_count":            1,
		"accesslog.access_num.502_count":            1,
		"accesslog.access_num.499_count":            1,
		"accesslog.access_rate.2xx_percentage":      50,
		"accesslog.access_rate_code.502_percentage": 25,
		"accesslog.latency.max":                     1.5,
		"accesslog.latency.50_percentile":           0.02,
		"accesslog.latency.99_percentile":           1.5,
		"accesslog.lines.malformed_count":           0,
	}
	for k, want := range checks {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if m["accesslog.rps.total"] <= 0 {
		t.Errorf("rps.total = %v after a second run", m["accesslog.rps.total"])
	}
	if avg := m["accesslog.latency.average"]; avg < 0.51 || avg > 0.511 {
		t.Errorf("average = %v, want 0.51", avg)
	}
}

func TestFromStartReadsWholeFile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, ltsvLine(200, "0.1")+ltsvLine(404, "0.2")+ltsvLine(503, "0.3"))
	r := runPlugin(t, dir, nil, "--from-start", log)
	if r.metrics["accesslog.access_num.total_count"] != 3 || r.metrics["accesslog.access_num.503_count"] != 1 {
		t.Fatalf("%v\n%s", r.metrics, r.stderr)
	}
}

func TestMissingFileIsAnErrorAndKeepsState(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, ltsvLine(200, "0.1"))
	runPlugin(t, dir, nil, "--from-start", log)
	states, _ := filepath.Glob(filepath.Join(dir, "mackerel-plugin-accesslog-*.json"))
	if len(states) != 1 {
		t.Fatalf("state files: %v", states)
	}
	before, _ := os.ReadFile(states[0])
	os.Rename(log, log+".moved")
	r := runPlugin(t, dir, nil, log)
	if r.code == 0 || !strings.Contains(r.stderr, log) || r.stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	after, _ := os.ReadFile(states[0])
	if !bytes.Equal(before, after) {
		t.Fatal("state changed by a failed run")
	}
	r = runPlugin(t, dir, nil, filepath.Join(dir, "nothing-*.log"))
	if r.code == 0 || !strings.Contains(r.stderr, "matches no file") {
		t.Fatalf("glob: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestCorruptStateIsReplacedWithAWarning(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, ltsvLine(200, "0.1"))
	runPlugin(t, dir, nil, log)
	states, _ := filepath.Glob(filepath.Join(dir, "mackerel-plugin-accesslog-*.json"))
	os.WriteFile(states[0], []byte("\x00garbage{"), 0o644)
	r := runPlugin(t, dir, nil, log)
	if r.code != 0 || !strings.Contains(r.stderr, "corrupt state file") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	writeFile(t, log, ltsvLine(200, "0.1"))
	r = runPlugin(t, dir, nil, log)
	if r.metrics["accesslog.access_num.total_count"] != 1 {
		t.Fatalf("after replacement: %v %s", r.metrics, r.stderr)
	}
}

func TestGarbageIsCountedWithOneSummaryLine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	runPlugin(t, dir, nil, log)
	garbage := "\x00\x01\x02binary\xff\xfe\n" + "status:abc\treqtime:0.1\n" + "\xc3\x28 invalid utf8\tstatus:20\n" +
		strings.Repeat("x", 300) + "\n" + ltsvLine(200, "0.1")
	writeFile(t, log, garbage)
	r := runPlugin(t, dir, nil, "--max-line-bytes", "200", log)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.metrics["accesslog.lines.malformed_count"] != 3 || r.metrics["accesslog.lines.overlong_count"] != 1 || r.metrics["accesslog.access_num.total_count"] != 1 {
		t.Fatalf("%v", r.metrics)
	}
	if n := strings.Count(r.stderr, "malformed"); n != 1 {
		t.Fatalf("want one summary line about malformed lines, got %d: %q", n, r.stderr)
	}
}

func TestBacklogOverLimitIsSkippedAndReported(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	runPlugin(t, dir, nil, log)
	line := ltsvLine(200, "0.1")
	writeFile(t, log, strings.Repeat(line, 100))
	r := runPlugin(t, dir, nil, "--max-read-bytes", strconv.Itoa(len(line)*10), log)
	if got := r.metrics["accesslog.access_num.total_count"]; got != 10 {
		t.Fatalf("read %v lines, want the newest 10", got)
	}
	if got := r.metrics["accesslog.skipped.bytes"]; got != float64(len(line)*90) {
		t.Fatalf("skipped %v bytes, want %d", got, len(line)*90)
	}
}

func TestSeveralFilesMergeAndGroups(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	for _, p := range []string{a, b} {
		writeFile(t, p, "")
	}
	args := []string{"--file", filepath.Join(dir, "*.log"), "--group-by", "vhost", "--max-groups", "2"}
	runPlugin(t, dir, nil, args...)
	line := func(vhost string, st int) string {
		return fmt.Sprintf("status:%d\treqtime:0.050\tvhost:%s\n", st, vhost)
	}
	writeFile(t, a, line("shop.example.com", 200)+line("shop.example.com", 200)+line("api", 500))
	writeFile(t, b, line("shop.example.com", 200)+line("img", 200)+line("api", 502)+line("api", 200)+"status:200\n")
	r := runPlugin(t, dir, nil, args...)
	m := r.metrics
	want := map[string]float64{
		"accesslog.access_num.total_count":                        8,
		"accesslog.group_access_num.shop_example_com.total_count": 3,
		"accesslog.group_access_num.api.total_count":              3,
		"accesslog.group_access_num.api.5xx_count":                2,
		"accesslog.group_access_num.other.total_count":            2, // img + the line without vhost
		"accesslog.group_latency.api.99_percentile":               0.05,
	}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s = %v, want %v", k, m[k], w)
		}
	}
	for k := range m {
		if strings.Contains(k, "group_access_num.img") || strings.Contains(k, ".none.") {
			t.Errorf("group beyond --max-groups reported: %s", k)
		}
	}

	// --group NAME=REGEX on the request path.
	c := filepath.Join(dir, "c.log")
	writeFile(t, c, "")
	args = []string{"--file", c, "--group", "api=^/api/", "--group", "static=\\.(js|css)$"}
	runPlugin(t, dir, nil, args...)
	writeFile(t, c, "status:200\treq:GET /api/v1/x?y=1 HTTP/1.1\n"+"status:200\treq:GET /app.js HTTP/1.1\n"+"status:404\treq:GET /nope HTTP/1.1\n")
	m = runPlugin(t, dir, nil, args...).metrics
	if m["accesslog.group_access_num.api.total_count"] != 1 || m["accesslog.group_access_num.static.total_count"] != 1 || m["accesslog.group_access_num.other.4xx_count"] != 1 {
		t.Fatalf("path groups: %v", m)
	}
}

func TestMetaOutputFollowsMackerelRules(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--file", "unused.log"}, {"--file", "unused.log", "--group-by", "vhost", "--metric-key-prefix", "nginx.www"}} {
		r := runPlugin(t, dir, []string{"MACKEREL_AGENT_PLUGIN_META=1"}, args...)
		if r.code != 0 {
			t.Fatalf("meta: exit %d %s", r.code, r.stderr)
		}
		keys, err := metricname.CheckMeta([]byte(r.stdout))
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(keys, " ")
		for _, want := range []string{"access_num", "latency", "rps_code"} {
			if !strings.Contains(joined, "."+want) {
				t.Errorf("no graph %s in %v", want, keys)
			}
		}
		if len(args) > 2 && !strings.Contains(joined, "nginx.www.group_latency.#") {
			t.Errorf("no wildcard group graph in %v", keys)
		}
	}
}

func TestBadFlagsAndParserErrorsExitNonZero(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]string{
		"unknown flag":   {"--nope"},
		"bad format":     {"--format", "xml", "x.log"},
		"bad group":      {"--group", "noequals", "x.log"},
		"bad regex":      {"--group", "a=(", "x.log"},
		"no file":        {},
		"bad prefix":     {"--metric-key-prefix", "a b", "x.log"},
		"nginx mismatch": {"--format", "json", "--nginx-log-format", "$status", "x.log"},
	}
	for name, args := range cases {
		r := runPlugin(t, dir, nil, args...)
		if r.code == 0 || r.stderr == "" || r.stdout != "" {
			t.Errorf("%s: exit %d stdout %q stderr %q", name, r.code, r.stdout, r.stderr)
		}
	}
}

func TestRealMackerelAgentOnce(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	bin := testenv.BuildBinary(t, "mackerel-plugin-accesslog")
	// The agent runs the plugin once: the first run sets the state at the
	// end of the file; lines appended before the second run are counted.
	section := fmt.Sprintf("[plugin.metrics.accesslog]\ncommand = [%q, \"--file\", %q]\n", bin, log)
	env := []string{"MACKEREL_PLUGIN_WORKDIR=" + dir}
	first := testenv.AgentOnce(t, section, env...)
	if first["accesslog.access_num.total_count"] != 0 {
		t.Fatalf("first agent run: %v", first)
	}
	writeFile(t, log, ltsvLine(200, "0.120")+ltsvLine(200, "0.080")+ltsvLine(503, "2.000"))
	m := testenv.AgentOnce(t, section, env...)
	want := map[string]float64{
		"accesslog.access_num.total_count":     3,
		"accesslog.access_num.503_count":       1,
		"accesslog.latency.max":                2,
		"accesslog.latency.50_percentile":      0.12,
		"accesslog.access_rate.5xx_percentage": 100.0 / 3,
	}
	for k, w := range want {
		got, ok := m[k]
		if !ok || got < w-1e-6 || got > w+1e-6 {
			t.Errorf("custom.%s = %v (present %v), want %v", k, got, ok, w)
		}
	}
}
