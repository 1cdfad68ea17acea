package main

import (
	"os"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// The README's config example is a valid config, and its mackerel-agent.conf
// snippet passes the real agent's configtest.
func TestReadmeSnippets(t *testing.T) {
	t.Parallel() // the agent's configtest takes seconds on a busy machine
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, block := range strings.Split(string(b), "```toml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(block, "[[balancer]]") {
			continue
		}
		found = true
		if _, err := config.Parse([]byte(block)); err != nil {
			t.Errorf("README config example: %v", err)
		}
	}
	if !found {
		t.Error("README has no config example")
	}
	if testing.Short() {
		return
	}
	if snippet := testenv.ReadmeAgentConfig(t, "README.md"); !strings.Contains(string(snippet), "deploy-tool") {
		t.Errorf("the first toml block is not the mackerel-agent.conf snippet:\n%s", snippet)
	}
}
