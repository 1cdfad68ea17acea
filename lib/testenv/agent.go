package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// AgentOnce runs the real mackerel-agent (`mackerel-agent once`) with a
// config made of the given [plugin.metrics.*] sections and returns the
// custom.* metrics it printed, keyed without the "custom." prefix.
// env is added to the agent's environment (and so the plugins').
func AgentOnce(t testing.TB, pluginSections string, env ...string) map[string]float64 {
	t.Helper()
	agent := Tool(t, "mackerel-agent")
	dir := t.TempDir()
	conf := filepath.Join(dir, "mackerel-agent.conf")
	body := "apikey = \"placeholder-never-used\"\n" +
		"cloud_platform = \"none\"\n" +
		"root = \"" + dir + "\"\n" +
		"pidfile = \"" + filepath.Join(dir, "agent.pid") + "\"\n\n" + pluginSections
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agent, "once", "-conf", conf)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mackerel-agent once: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "failed to load config") {
		t.Fatalf("mackerel-agent rejected the config:\n%s\n%s", body, stderr.String())
	}
	return parseAgentOnce(t, stdout.Bytes(), stderr.String())
}

func parseAgentOnce(t testing.TB, out []byte, stderr string) map[string]float64 {
	t.Helper()
	// The agent prints one JSON object per line; the metrics line holds the
	// values, keyed by metric name.
	metrics := map[string]float64{}
	found := false
	for _, line := range bytes.Split(out, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		collectCustom(m, metrics, &found)
	}
	if !found {
		t.Fatalf("mackerel-agent once printed no metrics object:\nstdout: %s\nstderr: %s", out, stderr)
	}
	return metrics
}

// collectCustom walks the agent's JSON for "custom.*" keys with numeric values.
func collectCustom(v any, into map[string]float64, found *bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			// mackerel-agent v0.87 prints {"name": {"Time": …, "Value": N}}.
			if obj, ok := val.(map[string]any); ok {
				if f, ok := obj["Value"].(float64); ok {
					val = f
				}
			}
			if f, ok := val.(float64); ok {
				*found = true
				if rest, ok := strings.CutPrefix(k, "custom."); ok {
					into[rest] = f
				}
				continue
			}
			collectCustom(val, into, found)
		}
	case []any:
		for _, e := range x {
			collectCustom(e, into, found)
		}
	}
}
