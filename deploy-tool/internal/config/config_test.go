package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfig(t *testing.T) {
	c, err := Load("testdata/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Balancers) != 3 || len(c.Servers) != 3 || c.MinUp != 2 || !c.CanaryPause.Prompt || c.Canary != 1 {
		t.Errorf("decoded %+v", c)
	}
	if s := c.Servers[1]; s.Host != "app2" || s.Port != 5000 || s.Addr != "10.0.1.2:5000" {
		t.Errorf("server %+v", s)
	}
	if c.Balancers[1].Timeout != 5e9 || c.Balancers[0].Timeout != 3e9 {
		t.Errorf("balancer timeouts %v %v", c.Balancers[0].Timeout, c.Balancers[1].Timeout)
	}
	if got := ExpandCommand(c.Deploy.Command, c.Servers[0]); got != "rsync -a --delete build/ app1:/srv/app/ && ssh app1 sudo systemctl restart app" {
		t.Errorf("expanded %q", got)
	}
}

const minimal = `
[[balancer]]
name = "lb"
driver = "ngx_dynamic_upstream"
url = "http://127.0.0.1:8081/dynamic"
upstreams = ["z"]

[[server]]
addr = "127.0.0.1:5001"
`

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Batch.Size(10) != 1 || c.MaxUnavailable != 1 || c.MinUp != 1 || c.DrainWait.D() != 2*time.Second ||
		c.DrainTimeout.D() != 30*time.Second || c.Settle.D() != time.Second || c.Health.Status != 200 ||
		c.Health.Retries != 10 || c.Deploy.Timeout.D() != 10*time.Minute || !c.CanaryPause.Prompt {
		t.Errorf("defaults %+v", c)
	}
	if s := c.Servers[0]; s.Host != "127.0.0.1" || s.Port != 5001 {
		t.Errorf("server defaults %+v", s)
	}
}

// A bare number is seconds in deploy.toml as on every command line of the
// suite (lib/cli's Duration), for the balancers' timeout too.
func TestBareNumberDurationsAreSeconds(t *testing.T) {
	doc := "drain_wait = 3\ndrain_timeout = 1.5e2\nsettle = 0.25\nup_timeout = \"45\"\ncanary_pause = 30\n" +
		"[deploy]\ncommand = \"true\"\ntimeout = 120\n[health]\ntimeout = \"1500ms\"\n" +
		strings.Replace(minimal, `upstreams = ["z"]`, "upstreams = [\"z\"]\ntimeout = 4", 1)
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		key       string
		got, want time.Duration
	}{
		{"drain_wait", c.DrainWait.D(), 3 * time.Second},
		{"drain_timeout", c.DrainTimeout.D(), 150 * time.Second},
		{"settle", c.Settle.D(), 250 * time.Millisecond},
		{"up_timeout", c.UpTimeout.D(), 45 * time.Second},
		{"canary_pause", c.CanaryPause.Wait, 30 * time.Second},
		{"deploy.timeout", c.Deploy.Timeout.D(), 2 * time.Minute},
		{"health.timeout", c.Health.Timeout.D(), 1500 * time.Millisecond},
		{"balancer.timeout", c.Balancers[0].CallTimeout(), 4 * time.Second},
	} {
		if d.got != d.want {
			t.Errorf("%s: %v, want %v", d.key, d.got, d.want)
		}
	}
	if c.CanaryPause.Prompt {
		t.Error("canary_pause = 30 read as prompt")
	}
}

func TestBatchSize(t *testing.T) {
	for _, c := range []struct {
		in          string
		total, want int
	}{{"2", 10, 2}, {`"3"`, 10, 3}, {`"25%"`, 4, 1}, {`"25%"`, 10, 3}, {`"100%"`, 7, 7}, {`"1%"`, 3, 1}} {
		cfg, err := Parse([]byte("batch = " + c.in + "\nmax_unavailable = 10\n" + minimal))
		if err != nil {
			t.Errorf("batch = %s: %v", c.in, err)
			continue
		}
		if got := cfg.Batch.Size(c.total); got != c.want {
			t.Errorf("batch = %s of %d: %d, want %d", c.in, c.total, got, c.want)
		}
	}
}

// Every bad config names the key and the line.
func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"batchh = 1\n" + minimal, `unknown key "batchh" (line 1)`},
		{minimal + "urll = \"x\"\n", `unknown key "server.urll" (line 10)`},
		{"[health]\nretries = 3\nport = 80\n" + minimal, `unknown key "health.port" (line 3)`},
		{"batch = \"abc\"\n" + minimal, `line 1`},
		{"batch = 0\n" + minimal, `batch 0: want 1 or more`},
		{"batch = \"150%\"\n" + minimal, `want a share between`},
		{"drain_wait = \"3x\"\n" + minimal, `line 1 (last key "drain_wait"): "3x" is not a duration`},
		{"drain_wait = \"-3s\"\n" + minimal, `is negative`},
		{"settle = true\n" + minimal, `line 1 (last key "settle"): true is not a duration`},
		{"settle = -5\n" + minimal, `line 1 (last key "settle"): "-5" is negative`},
		{"settle = nan\n" + minimal, `line 1 (last key "settle"): "NaN" is not a duration`},
		{"[health]\nretries = 3\ntimeout = \"5 s\"\n" + minimal, `line 3 (last key "health.timeout"): "5 s" is not a duration`},
		{"canary_pause = -1\n" + minimal, `line 1 (last key "canary_pause"): -1: want "prompt" or a duration`},
		{"max_unavailable = 0\n" + minimal, `max_unavailable (line 1): 0: want 1 or more`},
		{"canary = 2\n" + minimal, `canary (line 1): 2 is more than max_unavailable 1`},
		{"canary_pause = \"later\"\n" + minimal, `want "prompt" or a duration`},
		{"drain_wait = \"1m\"\n" + minimal, `drain_timeout: 30s is shorter than drain_wait 1m0s`},
		{"notify_webhook = \"slack\"\n" + minimal, `notify_webhook (line 1)`},
		{"[health]\nstatus = 99\n" + minimal, `health.status (line 2): 99 is not an HTTP status`},
		{"[health]\nurl = \"{addr}/x\"\n" + minimal, `health.url (line 2)`},
		{strings.Replace(minimal, "ngx_dynamic_upstream", "f5", 1), `balancer.driver (line 4): balancer "lb": driver "f5"`},
		{strings.Replace(minimal, `url = "http://127.0.0.1:8081/dynamic"`, `url = "127.0.0.1:8081"`, 1), `balancer.url (line 5)`},
		{strings.Replace(minimal, `upstreams = ["z"]`, `upstreams = []`, 1), `balancer.upstreams (line 6)`},
		{minimal + "\n[[server]]\naddr = \"127.0.0.1:5001\"\n", `server.addr (line 12): "127.0.0.1:5001" is listed twice`},
		{minimal + "\n[[server]]\naddr = \"10.0.0.1\"\n", `server.addr (line 12): "10.0.0.1": want IP:port`},
		{minimal + "\n[[server]]\naddr = \"10.0.0.1:80\"\nhost = \"a;rm -rf /\"\n", `server.host (line 13)`},
		{minimal + "\n[[server]]\naddr = \"10.0.0.1:80\"\nport = 70000\n", `server.port (line 13): 70000 is not a TCP port`},
		{"[drain]\ninflight_url = \"localhost/x\"\n" + minimal, `drain.inflight_url (line 2): "localhost/x": want http://`},
		{"[drain]\ninflight_url = \"http://{hots}/x\"\n" + minimal, `drain.inflight_url (line 2): unknown placeholder {hots}`},
		{"[drain]\ninflight_url = \"http://{host}/\"\ninflight_command = \"cat x\"\n" + minimal, `drain.inflight_command (line 3): set inflight_url or inflight_command, not both`},
		{"[drain]\ninflight_urll = \"http://{host}/\"\n" + minimal, `unknown key "drain.inflight_urll" (line 2)`},
		{"max_request_time = \"1m\"\n" + minimal, `drain_timeout: 30s is shorter than max_request_time 1m0s`},
		{"max_request_time = \"3x\"\n" + minimal, `line 1 (last key "max_request_time"): "3x" is not a duration`},
		{"state_dir = 3\n" + minimal, `line 1`},
		{"x = [\n", `line`},
		{"", `no [[balancer]]`},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config\n%s\nerror %v, want it to contain %q", c.doc, err, c.want)
		}
	}
}

func TestLoadConfigNamesFile(t *testing.T) {
	_, err := Load("testdata/missing.toml")
	if err == nil || !strings.Contains(err.Error(), "testdata/missing.toml") {
		t.Errorf("error %v", err)
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add(minimal)
	f.Add("batch = \"25%\"\n" + minimal)
	f.Add("[health]\nretries = -1\n" + minimal)
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse([]byte(doc))
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error")
			}
			return
		}
		// What the loader accepts, the engine can use without surprises.
		if len(c.Balancers) == 0 || c.MaxUnavailable < 1 || c.Health.Retries < 1 || c.DrainTimeout < c.DrainWait {
			t.Errorf("accepted an unusable config: %+v", c)
		}
		for _, s := range c.Servers {
			if !safeHost.MatchString(s.Host) || s.Port < 1 || s.Port > 65535 {
				t.Errorf("accepted server %+v", s)
			}
		}
		if n := c.Batch.Size(len(c.Servers) + 1); n < 1 {
			t.Errorf("batch size %d", n)
		}
	})
}

// Issue 19 fixes 3, 5 and 6: a drain.timeout longer than drain_timeout,
// one server written in two forms, and a command of blanks.
func TestConfigRefusesWhatWouldMislead(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]string{
		"drain_timeout = \"3s\"\n[drain]\ninflight_url = \"http://{host}:9000/inflight\"\ntimeout = \"10s\"\n": "drain.timeout (line 4): 10s is longer than drain_timeout 3s",
		"[[server]]\naddr = \"[::1]:52431\"\n[[server]]\naddr = \"[0:0::1]:52431\"\n":                          `server.addr (line 4): "[0:0::1]:52431" is the same server as "[::1]:52431"`,
		"[[server]]\naddr = \"127.0.0.1:5001\"\n":                                                              `server.addr (line 11): "127.0.0.1:5001" is listed twice`,
	} {
		_, err := Parse([]byte(doc + minimal))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
	c, err := Parse([]byte("[deploy]\ncommand = \"  \\t \"\n[drain]\ninflight_command = \" \"\n" + minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Deploy.Command != "" || c.Drain.InflightCommand != "" || c.Drain.Configured() {
		t.Errorf("blank commands kept: %q, %q", c.Deploy.Command, c.Drain.InflightCommand)
	}
	if _, err := Parse([]byte("drain_timeout = \"3s\"\n[drain]\ninflight_url = \"http://{host}:9000/i\"\ntimeout = \"3s\"\n" + minimal)); err != nil {
		t.Errorf("drain.timeout equal to drain_timeout: %v", err)
	}
}

// [coordination] is checked when the file is loaded; without it there is
// one deploy host.
func TestLoadChecksCoordination(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(doc string) string {
		path := filepath.Join(dir, "deploy.toml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	c, err := Load(write(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.CoordinationOptions(); ok {
		t.Error("coordination without a [coordination] section")
	}
	c, err = Load(write(minimal + "\n[coordination]\netcd_endpoints = [\"http://127.0.0.1:2379\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := c.CoordinationOptions(); !ok || o.Prefix == "" || len(o.Endpoints) != 1 {
		t.Errorf("options %+v, %v", o, ok)
	}
	_, err = Load(write(minimal + "\n[coordination]\netcd_endpoints = []\n"))
	if err == nil || !strings.Contains(err.Error(), "coordination.etcd_endpoints") {
		t.Errorf("empty endpoints: %v", err)
	}
}
