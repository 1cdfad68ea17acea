package testenv

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// Result is one run of a binary.
type Result struct {
	Code   int
	Stdout string
	Stderr string
	Took   time.Duration
}

// Run runs bin with args, bounded by a minute, and returns its exit code and
// output as mackerel-agent would see them. Its environment is this
// process's plus env, where "NAME=value" sets and a bare "NAME" unsets.
func Run(t testing.TB, bin string, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = mergeEnv(os.Environ(), env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("run %s %v: %v (after %v)", bin, args, err, r.Took)
	}
	return r
}

// ReadmeAgentConfig returns the first ```toml block of a binary's README
// (its mackerel-agent.conf snippet) after checking that the real
// mackerel-agent's configtest accepts it without a warning.
func ReadmeAgentConfig(t testing.TB, readme string) []byte {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```toml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no toml block", readme)
	}
	agentConfigtest(t, readme, m[1])
	return m[1]
}

// AgentConfigMarker is the line that marks the next ```toml block of a
// README as a mackerel-agent.conf snippet for ReadmeAgentConfigs; it does
// not show on GitHub.
const AgentConfigMarker = "<!-- mackerel-agent.conf -->"

// ReadmeAgentConfigs returns every ```toml block of a README that follows
// a line AgentConfigMarker, in order, each accepted by the real
// mackerel-agent's configtest without a warning. It is for READMEs whose
// first toml block is something else (a tool's own config file); it fails
// the test when no block is marked.
func ReadmeAgentConfigs(t testing.TB, readme string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)" + regexp.QuoteMeta(AgentConfigMarker) + "[ \t]*\r?\n```toml\n(.*?)```")
	var out [][]byte
	for _, m := range re.FindAllSubmatch(b, -1) {
		agentConfigtest(t, readme, m[1])
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("%s has no toml block right after a line %s", readme, AgentConfigMarker)
	}
	return out
}

// agentConfigtest runs `mackerel-agent configtest` on a README's snippet.
func agentConfigtest(t testing.TB, readme string, snippet []byte) {
	t.Helper()
	agent := Tool(t, "mackerel-agent")
	path := t.TempDir() + "/mackerel-agent.conf"
	if err := os.WriteFile(path, append([]byte("apikey = \"placeholder\"\n"), snippet...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(agent, "configtest", "-conf", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") || strings.Contains(string(out), "WARNING") {
		t.Fatalf("mackerel-agent configtest of %s's snippet: %v\n%s\n%s", readme, err, out, snippet)
	}
}

func mergeEnv(base, change []string) []string {
	out := make([]string, 0, len(base)+len(change))
	drop := map[string]bool{}
	for _, c := range change {
		name, _, _ := strings.Cut(c, "=")
		drop[name] = true
	}
	for _, e := range base {
		name, _, _ := strings.Cut(e, "=")
		if !drop[name] {
			out = append(out, e)
		}
	}
	for _, c := range change {
		if strings.Contains(c, "=") {
			out = append(out, c)
		}
	}
	return out
}

// Metrics parses a metrics plugin's output ("name<TAB>value<TAB>epoch" lines)
// into values by name, failing the test on a line the agent would not take.
func Metrics(t testing.TB, stdout string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, line := range strings.Split(stdout, "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("metric line %q has %d fields, want 3", line, len(f))
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("metric line %q: bad value", line)
		}
		m[f[0]] = v
	}
	return m
}

// ReadmeCheckCommands returns the commands of the [plugin.checks.*] entries
// in a binary's README snippet (after ReadmeAgentConfig's configtest),
// failing the test when there are none or one runs another binary.
func ReadmeCheckCommands(t testing.TB, readme, binary string) map[string][]string {
	t.Helper()
	snippet := ReadmeAgentConfig(t, readme)
	var conf struct {
		Plugin struct {
			Checks map[string]struct{ Command []string }
		}
	}
	if _, err := toml.Decode(string(snippet), &conf); err != nil {
		t.Fatalf("%s snippet: %v", readme, err)
	}
	if len(conf.Plugin.Checks) == 0 {
		t.Fatalf("%s snippet has no [plugin.checks.*]", readme)
	}
	out := map[string][]string{}
	for name, c := range conf.Plugin.Checks {
		if len(c.Command) == 0 || filepath.Base(c.Command[0]) != binary {
			t.Errorf("%s: [plugin.checks.%s] runs %v, not %s", readme, name, c.Command, binary)
			continue
		}
		out[name] = c.Command[1:]
	}
	return out
}
