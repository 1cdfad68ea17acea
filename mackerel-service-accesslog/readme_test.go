package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestReadme keeps README.md true: every flag is documented, the host-side
// mackerel-agent.conf snippet passes the real agent's configtest, and its
// command's flags are accepted by the real mackerel-plugin-accesslog.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(options{})
	for i := range typ.NumField() {
		if long := typ.Field(i).Tag.Get("long"); !strings.Contains(string(b), "`--"+long) {
			t.Errorf("README.md does not document --%s", long)
		}
	}
	snippet := testenv.ReadmeAgentConfig(t, "README.md")
	var conf struct {
		Plugin struct {
			Metrics map[string]struct{ Command []string }
		}
	}
	if _, err := toml.Decode(string(snippet), &conf); err != nil || len(conf.Plugin.Metrics) != 1 {
		t.Fatalf("snippet: %v, %d plugins", err, len(conf.Plugin.Metrics))
	}
	bin := testenv.BuildBinary(t, "mackerel-plugin-accesslog")
	for name, c := range conf.Plugin.Metrics {
		// Meta mode parses and checks every flag, then prints graph definitions.
		r := testenv.Run(t, bin, []string{"MACKEREL_AGENT_PLUGIN_META=1"}, c.Command[1:]...)
		if r.Code != 0 || !strings.Contains(r.Stdout, `"accesslog.fleet"`) {
			t.Errorf("%s: exit %d, %s %s", name, r.Code, r.Stderr, r.Stdout)
		}
	}
}
