package main

import (
	"testing"

	"github.com/jessevdk/go-flags"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's own configtest accepts it, and every command's flags parse.
func TestReadmeAgentConfig(t *testing.T) {
	for name, args := range testenv.ReadmeCheckCommands(t, "README.md", "check-mysql-uptime") {
		var o options
		if rest, err := flags.NewParser(&o, flags.PassDoubleDash).ParseArgs(args); err != nil || len(rest) > 0 {
			t.Errorf("%s: %v %v", name, err, rest)
		}
	}
}
