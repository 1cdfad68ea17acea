package main

import (
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's own configtest accepts it, and every command's flags parse.
func TestReadmeAgentConfig(t *testing.T) {
	for name, args := range testenv.ReadmeCheckCommands(t, "README.md", "check-crt-expiration") {
		var o options
		_, out := check.New("", "check-crt-expiration", "").Command(program).Parse(&o, args)
		if out.Done || out.Stderr != "" {
			t.Errorf("%s: %s%s", name, out.Stdout, out.Stderr)
		} else if _, err := newConfig(o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
