package main

import (
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's configtest accepts it and every command's flags are valid.
func TestReadmeAgentConfig(t *testing.T) {
	snippet := testenv.ReadmeAgentConfig(t, "README.md")
	var conf struct {
		Plugin struct {
			Metrics map[string]struct{ Command []string }
		}
	}
	if _, err := toml.Decode(string(snippet), &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugin.Metrics) != 3 {
		t.Fatalf("want the README's 3 [plugin.metrics.*] examples, got %d", len(conf.Plugin.Metrics))
	}
	for name, c := range conf.Plugin.Metrics {
		o, out := parseCommandLine(c.Command[1:])
		if out.Done || out.Stderr != "" {
			t.Fatalf("%s: %q: %+v", name, c.Command, out)
		}
		if _, _, err := o.formatParsers(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
