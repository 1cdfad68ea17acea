package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/jessevdk/go-flags"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadmeAgentConfig keeps the README's mackerel-agent.conf snippet true:
// the agent's own configtest accepts it, and every command's flags parse.
func TestReadmeAgentConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```toml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no toml block")
	}
	var conf struct {
		Plugin struct {
			Checks map[string]struct{ Command []string }
		}
	}
	if _, err := toml.Decode(string(m[1]), &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugin.Checks) == 0 {
		t.Fatal("no [plugin.checks.*] in the snippet")
	}
	for name, c := range conf.Plugin.Checks {
		if filepath.Base(c.Command[0]) != "check-dns-rr" {
			t.Errorf("%s runs %s", name, c.Command[0])
		}
		var o options
		if _, err := flags.NewParser(&o, flags.PassDoubleDash).ParseArgs(c.Command[1:]); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if _, err := newConfig(o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	agent := testenv.Tool(t, "mackerel-agent")
	path := filepath.Join(t.TempDir(), "mackerel-agent.conf")
	os.WriteFile(path, append([]byte("apikey = \"placeholder\"\n"), m[1]...), 0o644)
	out, err := exec.Command(agent, "configtest", "-conf", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") || strings.Contains(string(out), "WARNING") {
		t.Fatalf("mackerel-agent configtest: %v\n%s", err, out)
	}
}
