package main

import (
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's own configtest accepts it, and every command's flags parse.
func TestReadmeAgentConfig(t *testing.T) {
	for name, args := range testenv.ReadmeCheckCommands(t, "README.md", "check-memcached-uptime") {
		var o options
		_, out := check.New("", "check-memcached-uptime", "").Command(program).Parse(&o, args)
		if out.Done || out.Stderr != "" {
			t.Errorf("%s: %s%s", name, out.Stdout, out.Stderr)
		}
	}
}
