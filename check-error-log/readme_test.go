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
		o.SlackFile, o.FleetRedisPasswordFile = "", ""
		env := func(string) string { return "" }
		if o.FleetPost { // it needs a webhook: the file named need not exist here
			env = func(k string) string {
				return map[string]string{webhookEnv: "https://hooks.slack.com/services/T/B/X"}[k]
			}
		}
		if _, err := newConfig(o, env); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
