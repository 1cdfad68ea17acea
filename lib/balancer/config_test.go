package balancer

import (
	"strings"
	"testing"
	"time"
)

func TestLoadReadsBalancerTablesOnly(t *testing.T) {
	cfgs, err := Load(`
# deploy-tool's own keys are ignored here
[deploy]
servers = ["app1"]

[[balancer]]
name = "lb1"
driver = "ngx_dynamic_upstream"
url = "http://127.0.0.1:6000/dynamic"
upstreams = ["backend_zone"]
user = "ops"
password = "secret"
timeout = "2s"
extra_key_for_deploy_tool = true

[[balancer]]
name = "hap"
driver = "haproxy"
socket = "/run/haproxy/admin.sock"
upstreams = ["app", "api"]
`, "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 || cfgs[0].Name != "lb1" || cfgs[0].CallTimeout() != 2*time.Second || cfgs[0].User != "ops" ||
		cfgs[1].Socket != "/run/haproxy/admin.sock" || len(cfgs[1].Upstreams) != 2 || cfgs[1].CallTimeout() != DefaultTimeout {
		t.Errorf("%+v", cfgs)
	}
}

// timeout = 3 is three seconds, as on the suite's command lines (cli.Duration).
func TestLoadBareNumberTimeoutIsSeconds(t *testing.T) {
	for text, want := range map[string]time.Duration{
		"3": 3 * time.Second, "0.5": 500 * time.Millisecond, `"3"`: 3 * time.Second, `"250ms"`: 250 * time.Millisecond,
	} {
		cfgs, err := Load("[[balancer]]\nname = \"a\"\ndriver = \"haproxy\"\nsocket = \"s\"\nupstreams = [\"x\"]\ntimeout = "+text, "test.toml")
		if err != nil {
			t.Errorf("timeout = %s: %v", text, err)
			continue
		}
		if got := cfgs[0].CallTimeout(); got != want {
			t.Errorf("timeout = %s: %v, want %v", text, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{`x = 1`, "no [[balancer]] tables"},
		{`[[balancer]]` + "\n" + `driver = "haproxy"`, "balancer without a name"},
		{`[[balancer]]` + "\nname = \"a\"\ndriver = \"f5\"\nupstreams = [\"x\"]", `balancer a: unknown driver "f5"`},
		{`[[balancer]]` + "\nname = \"a\"\ndriver = \"haproxy\"\nupstreams = [\"x\"]", "balancer a: driver haproxy needs socket"},
		{`[[balancer]]` + "\nname = \"a\"\ndriver = \"ngx_dynamic_upstream\"\nupstreams = [\"x\"]", "needs url"},
		{`[[balancer]]` + "\nname = \"a\"\ndriver = \"haproxy\"\nsocket = \"s\"", "balancer a: no upstreams"},
		{`[[balancer]]` + "\nname = \"a\"\ndriver = \"haproxy\"\nsocket = \"s\"\nupstreams = [\"x\"]\ntimeout = \"soon\"", `test.toml: toml: line 6 (last key "balancer.timeout"): "soon" is not a duration`},
		{`[[balancer]]` + "\nname = \"a\"\ndriver = \"haproxy\"\nsocket = \"s\"\nupstreams = [\"x\"]\ntimeout = -1", `line 6 (last key "balancer.timeout"): "-1" is negative`},
		{strings.Repeat(`[[balancer]]`+"\nname = \"a\"\ndriver = \"haproxy\"\nsocket = \"s\"\nupstreams = [\"x\"]\n", 2), `balancer name "a" is used twice`},
	} {
		if _, err := Load(c.text, "test.toml"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
}

func TestNewSocketKinds(t *testing.T) {
	for socket, network := range map[string]string{
		"/run/haproxy/admin.sock": "unix", "unix:rel.sock": "unix", "127.0.0.1:9999": "tcp",
		"tcp:lb.example:9999": "tcp", "admin.sock": "unix",
	} {
		b, err := New(Config{Name: "h", Driver: DriverHAProxy, Socket: socket, Upstreams: []string{"app"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.(*HAProxy).network; got != network {
			t.Errorf("%s: %s, want %s", socket, got, network)
		}
	}
	if _, err := New(Config{Name: "n", Driver: DriverNginx, URL: "ftp://x/", Upstreams: []string{"z"}}); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := New(Config{Name: "n", Driver: DriverNginx, URL: "http://x/d", Upstreams: []string{"a&b"}}); err == nil {
		t.Error("upstream with & accepted")
	}
}

func TestParseList(t *testing.T) {
	servers, verbose, err := ParseList("z", []byte("server 127.0.0.1:6001 weight=2 max_fails=1 fail_timeout=10;\n"+
		"server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10 active=3 down;\n"))
	if err != nil || !verbose || len(servers) != 2 {
		t.Fatalf("%+v %v %v", servers, verbose, err)
	}
	if s := servers[0]; s.Addr != "127.0.0.1:6001" || s.Weight != 2 || s.State != Up || s.Active != -1 ||
		s.MaxFails != 1 || s.FailTimeout != 10*time.Second {
		t.Errorf("%+v", s)
	}
	if s := servers[1]; s.State != Down || s.Active != 3 || s.Drained() {
		t.Errorf("%+v", s)
	}
	servers, verbose, err = ParseList("z", []byte("server [::1]:80;\nserver 10.0.0.1:80 down;\n"))
	if err != nil || verbose || servers[0].Addr != "[::1]:80" || servers[1].State != Down ||
		servers[0].MaxFails != -1 || servers[0].FailTimeout != -1 {
		t.Errorf("%+v %v %v", servers, verbose, err)
	}
	// max_fails=0 (the check turned off) is read as 0, not as "not reported".
	servers, _, err = ParseList("z", []byte("server 127.0.0.1:6001 weight=1 max_fails=0 fail_timeout=0;\n"))
	if err != nil || servers[0].MaxFails != 0 || servers[0].FailTimeout != 0 {
		t.Errorf("%+v %v", servers, err)
	}
	// A flag whose meaning is unknown (the module never prints backup; a
	// build that did would mean a server not to count as up) is an error.
	for _, bad := range []string{"<html>404</html>", "server 1.2.3.4:5", "server ;", "server 1.2.3.4:5 weight=x;",
		"server 1.2.3.4:5;\nserver 1.2.3.4:6 weight=1;", "server 1.2.3.4:5 backup;",
		"server 1.2.3.4:5 weight=1 max_fails=1 fail_timeout=99999999999;"} {
		if _, _, err := ParseList("z", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseStatAndServersState(t *testing.T) {
	rows, err := ParseStat([]byte("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,addr\n" +
		"fe,FRONTEND,,,0,0,9985,0,0,0,0,0,0,,,,,OPEN,,\n" +
		"app,app1,1,0,2,0,,0,0,0,,0,,0,0,0,0,DRAIN,1,127.0.0.1:8001\n" +
		"app,app2,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,3,\n\n"))
	if err != nil || len(rows) != 3 {
		t.Fatalf("%+v %v", rows, err)
	}
	if r := rows[1]; r.Queued != 1 || r.Current != 2 || r.Status != "DRAIN" || r.Weight != 1 || r.Addr != "127.0.0.1:8001" {
		t.Errorf("%+v", r)
	}
	if _, err := ParseStat([]byte("Unknown command\n")); err == nil {
		t.Error("an error answer parsed")
	}
	st, err := parseServersState("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n" +
		"3 app 1 app1 127.0.0.1 2 8 1 1 1 1 0 2 0 0 0 0 - 8001 -\n3 app 2 app2 ::1 2 1 1 1 1 1 0 2 0 0 0 0 - 8002 -\n\n")
	if err != nil || st["app1"].state != Draining || st["app1"].addr != "127.0.0.1:8001" || st["app2"].state != Down || st["app2"].addr != "[::1]:8002" {
		t.Errorf("%+v %v", st, err)
	}
}
