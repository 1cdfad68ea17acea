package main

import (
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/jessevdk/go-flags"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's own configtest accepts it, and every command's flags parse.
func TestReadmeAgentConfig(t *testing.T) {
	snippet := testenv.ReadmeAgentConfig(t, "README.md")
	var conf struct {
		Plugin struct {
			Checks map[string]struct{ Command []string }
		}
	}
	if _, err := toml.Decode(string(snippet), &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugin.Checks) == 0 {
		t.Fatal("no [plugin.checks.*] in the snippet")
	}
	for name, c := range conf.Plugin.Checks {
		if filepath.Base(c.Command[0]) != "check-crt-expiration" {
			t.Errorf("%s runs %s", name, c.Command[0])
		}
		var o options
		if _, err := flags.NewParser(&o, flags.PassDoubleDash).ParseArgs(c.Command[1:]); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if _, err := newConfig(o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
