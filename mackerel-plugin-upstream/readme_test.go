package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// readmeCommands returns the command of each mackerel-agent.conf snippet of
// the README (the blocks marked for testenv.ReadmeAgentConfigs; the first
// toml block is the deploy.toml example), after the real agent's
// configtest, failing the test for a snippet that runs another binary.
func readmeCommands(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	for _, snippet := range testenv.ReadmeAgentConfigs(t, "README.md") {
		var conf struct {
			Plugin struct {
				Metrics map[string]struct{ Command []string }
			}
		}
		if _, err := toml.Decode(string(snippet), &conf); err != nil {
			t.Fatalf("README snippet: %v\n%s", err, snippet)
		}
		if len(conf.Plugin.Metrics) != 1 {
			t.Fatalf("README snippet: want one [plugin.metrics.*], got %d\n%s", len(conf.Plugin.Metrics), snippet)
		}
		for name, c := range conf.Plugin.Metrics {
			if len(c.Command) == 0 || filepath.Base(c.Command[0]) != binaryName {
				t.Fatalf("README: [plugin.metrics.%s] runs %v, not %s", name, c.Command, binaryName)
			}
			out = append(out, c.Command)
		}
	}
	return out
}

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippets
// true: all three (--config, flags only, basic auth) pass the agent's
// configtest and their flags parse and validate (the files they name need
// not exist here; TestBasicAuthReadmeSnippetThroughMackerelAgent runs the
// auth one for real). The deploy.toml example loads as a balancer file.
func TestReadmeAgentConfig(t *testing.T) {
	commands := readmeCommands(t)
	if len(commands) != 3 {
		t.Fatalf("want the README's 3 mackerel-agent.conf snippets, got %d", len(commands))
	}
	for _, c := range commands {
		var o options
		if _, out := program.Parse(&o, c[1:]); out.Done {
			t.Errorf("%v: exit %d: %s%s", c[1:], out.Code, out.Stdout, out.Stderr)
			continue
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%v: %v", c[1:], err)
		}
	}
	if !strings.Contains(strings.Join(commands[2], " "), "--nginx-password-file") {
		t.Errorf("the third snippet is not the basic auth form: %v", commands[2])
	}

	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```toml\n(.*?)```").FindSubmatch(b)
	cfgs, err := balancer.Load(string(m[1]), "README.md")
	if err != nil || len(cfgs) != 2 {
		t.Errorf("the README's TOML file example: %v %v", cfgs, err)
	}
}
