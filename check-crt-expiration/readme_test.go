package main

import (
	"testing"

	"github.com/jessevdk/go-flags"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's own configtest accepts it, and every command's flags parse.
func TestReadmeAgentConfig(t *testing.T) {
	for name, args := range testenv.ReadmeCheckCommands(t, "README.md", "check-crt-expiration") {
		var o options
		if _, err := flags.NewParser(&o, flags.PassDoubleDash).ParseArgs(args); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if _, err := newConfig(o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
