package main

import (
	"testing"

	"github.com/jessevdk/go-flags"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's own configtest accepts it, and every command's flags parse and
// validate (the webhook file it names need not exist here).
func TestReadmeAgentConfig(t *testing.T) {
	for name, args := range testenv.ReadmeCheckCommands(t, "README.md", "check-error-log") {
		var o options
		rest, err := flags.NewParser(&o, flags.PassDoubleDash).ParseArgs(args)
		if err != nil || len(rest) > 0 {
			t.Errorf("%s: %v %v", name, err, rest)
			continue
		}
		o.SlackFile = ""
		if _, err := newConfig(o, func(string) string { return "" }); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
