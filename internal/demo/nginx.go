package main

// The demo's nginx (the shipped example config with the demo's addresses)
// and deploy-tool's config.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// startNginx writes a private nginx.conf that includes the shipped example
// nginx/dynamic_upstream.conf, with only its addresses and paths replaced,
// and an LTSV access log for the accesslog plugin.
func (d *demo) startNginx() error {
	for _, f := range []string{ndkModule, luaModule} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s is missing: run as root so that make demo installs libnginx-mod-http-lua", f)
		}
	}
	nginxBin, err := exec.LookPath("nginx")
	if err != nil {
		nginxBin = "/usr/sbin/nginx"
	}
	frontPort, apiPort := freePort(), freePort()
	d.front = fmt.Sprintf("http://127.0.0.1:%d", frontPort)
	d.api = fmt.Sprintf("http://127.0.0.1:%d/dynamic", apiPort)
	example, err := os.ReadFile(filepath.Join(d.root, "nginx", "dynamic_upstream.conf"))
	if err != nil {
		return err
	}
	conf := strings.NewReplacer(
		"/usr/local/share/nginx/lua/?.lua", filepath.Join(d.root, "nginx")+"/?.lua",
		"10.0.0.11:8080", d.apps[0], "10.0.0.12:8080", d.apps[1], "10.0.0.13:8080", d.apps[2],
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", frontPort),
		"listen 127.0.0.1:6000;", fmt.Sprintf("listen 127.0.0.1:%d;", apiPort),
	).Replace(string(example))
	nd := filepath.Join(d.dir, "nginx")
	if err := os.WriteFile(filepath.Join(nd, "dynamic_upstream.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	main := fmt.Sprintf(`load_module %s;
load_module %s;
%s
worker_processes 2;
daemon off;
pid %[4]s/nginx.pid;
error_log %[4]s/logs/error.log notice;
events { worker_connections 512; }
http {
    log_format ltsv 'time:$time_local\thost:$remote_addr\treq:$request\tstatus:$status\tsize:$body_bytes_sent\treqtime:$request_time\tapptime:$upstream_response_time\tupstream:$upstream_addr';
    # Only the front end's requests: the API's own calls are not traffic.
    map $server_port $frontend { %[5]d 1; default 0; }
    access_log %[4]s/logs/access.log ltsv if=$frontend;
    client_body_temp_path %[4]s/tmp/client_body;
    proxy_temp_path %[4]s/tmp/proxy;
    fastcgi_temp_path %[4]s/tmp/fastcgi;
    uwsgi_temp_path %[4]s/tmp/uwsgi;
    scgi_temp_path %[4]s/tmp/scgi;
    include %[4]s/dynamic_upstream.conf;
}
`, ndkModule, luaModule, user, nd, frontPort)
	confPath := filepath.Join(nd, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(main), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(nd, "logs", "stderr.log"))
	if err != nil {
		return err
	}
	d.nginx = exec.Command(nginxBin, "-p", nd, "-c", confPath)
	d.nginx.Stdout, d.nginx.Stderr = logf, logf
	d.nginx.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(d.nginx.SysProcAttr)
	if err := d.nginx.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := http.Get(d.api + "?upstream=" + zone); err == nil {
			c.Body.Close()
			if c.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(nd, "logs", "error.log"))
	return fmt.Errorf("nginx did not serve its API within 10s:\n%s", b)
}

func (d *demo) writeDeployConfig() error {
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\nbatch = 1\nmax_unavailable = 1\nmin_up = 2\n", filepath.Join(d.dir, "deploy"))
	// The drain as deploy-tool's README recommends it: the balancer's own
	// in-flight count (the drop-in's active=) and the app's (testapp's
	// /inflight) must both read 0; max_request_time is nginx's
	// proxy_read_timeout (60 s, the default the example config keeps), and
	// drain_timeout covers it. On the C module, which counts nothing, the
	// app's figure alone ends the drain.
	b.WriteString("max_request_time = \"60s\"\ndrain_timeout = \"70s\"\nsettle = \"500ms\"\nup_timeout = \"10s\"\n\n")
	b.WriteString("[drain]\ninflight_url = \"http://{addr}/inflight\"\ntimeout = \"1s\"\n\n")
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\ntimeout = \"30s\"\n\n", d.appCommand("v2", ""))
	b.WriteString("[health]\nurl = \"http://{addr}/healthz\"\nstatus = 200\ninterval = \"100ms\"\nretries = 30\ntimeout = \"1s\"\n\n")
	fmt.Fprintf(&b, "[[balancer]]\nname = \"nginx\"\ndriver = \"ngx_dynamic_upstream\"\nurl = %q\nupstreams = [%q]\ntimeout = \"3s\"\n\n", d.api, zone)
	for _, a := range d.apps {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", a)
	}
	more, err := d.integrations()
	if err != nil {
		return err
	}
	b.WriteString(more)
	d.deployConf = filepath.Join(d.dir, "deploy.toml")
	return os.WriteFile(d.deployConf, []byte(b.String()), 0o644)
}
