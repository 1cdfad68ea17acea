package mackerel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSectionOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "deploy.toml")
	writeFile(t, filepath.Join(dir, "key"), "file-key-123\n")
	writeFile(t, filepath.Join(dir, "empty"), "\n")
	writeFile(t, filepath.Join(dir, "agent.conf"), "apikey = \"agent-key-456\"\napibase = \"http://127.0.0.1:9\"\n[plugin.metrics.x]\ncommand = \"x\"\n")
	writeFile(t, filepath.Join(dir, "nokey.conf"), "hostname = \"h\"\n")
	writeFile(t, filepath.Join(dir, "broken.conf"), "apikey = \"agent-key-789\n")
	noEnv := func(string) string { return "" }
	env := func(k string) string {
		if k == APIKeyEnv {
			return "env-key-789"
		}
		return ""
	}
	for _, tc := range []struct {
		name    string
		toml    string
		getenv  func(string) string
		wantErr string // substring; empty: no error
		check   func(Options) bool
	}{
		{"off", "", noEnv, "", func(o Options) bool { return !o.Enabled }},
		{"key file, defaults", `service = "shop"` + "\napikey_file = \"key\"", noEnv, "",
			func(o Options) bool {
				return o.Enabled && o.APIKey == "file-key-123" && o.APIBase == DefaultAPIBase && o.Timeout == DefaultTimeout && strings.HasSuffix(o.KeyFrom, "key")
			}},
		{"env before agent.conf", `service = "shop"` + "\nagent_conf = \"agent.conf\"", env, "",
			func(o Options) bool { return o.APIKey == "env-key-789" && o.APIBase == "http://127.0.0.1:9" }},
		{"agent.conf key and apibase", `service = "shop"` + "\nagent_conf = \"agent.conf\"\nroles = [\"app\"]\ntimeout = \"2s\"", noEnv, "",
			func(o Options) bool {
				return o.APIKey == "agent-key-456" && o.APIBase == "http://127.0.0.1:9" && o.Roles[0] == "app" && o.Timeout == 2*time.Second
			}},
		{"apibase set wins", `service = "shop"` + "\nagent_conf = \"agent.conf\"\napibase = \"https://mackerel.example:8443/\"", noEnv, "",
			func(o Options) bool { return o.APIBase == "https://mackerel.example:8443" }},
		{"no service", `stop_on_alert = true`, env, "mackerel.service:", nil},
		{"bad service", `service = "shop!"`, env, "mackerel.service:", nil},
		{"bad role", `service = "shop"` + "\nroles = [\"a b\"]", env, "mackerel.roles:", nil},
		{"timeout too long", `service = "shop"` + "\ntimeout = \"1m\"", env, "mackerel.timeout:", nil},
		{"apibase with a path", `service = "shop"` + "\napibase = \"https://x.example/api\"", env, "mackerel.apibase:", nil},
		{"empty key file", `service = "shop"` + "\napikey_file = \"empty\"", env, "mackerel.apikey_file:", nil},
		{"missing key file", `service = "shop"` + "\napikey_file = \"nope\"", env, "mackerel.apikey_file:", nil},
		{"no key anywhere", `service = "shop"` + "\nagent_conf = \"nokey.conf\"", noEnv, "$MACKEREL_APIKEY is empty, and " + filepath.Join(dir, "nokey.conf") + " has no apikey", nil},
		{"no agent.conf", `service = "shop"` + "\nagent_conf = \"/nonexistent/agent.conf\"", noEnv, "/nonexistent/agent.conf does not exist", nil},
		{"broken agent.conf never quoted", `service = "shop"` + "\nagent_conf = \"broken.conf\"", noEnv, "is not valid TOML", nil},
	} {
		var s Section
		if _, err := toml.Decode(tc.toml, &s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		o, err := s.Options(cfg, tc.getenv)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "-key-"):
			t.Errorf("%s: the error quotes an API key: %v", tc.name, err)
		case tc.check != nil && !tc.check(o):
			t.Errorf("%s: options %+v", tc.name, o)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	o := Options{APIKey: "very-secret"}
	for _, s := range []string{fmt.Sprint(o.APIKey), fmt.Sprintf("%v %+v %#v %s", o, o, o, o.APIKey)} {
		if strings.Contains(s, "very-secret") {
			t.Errorf("printed the key: %s", s)
		}
	}
}
