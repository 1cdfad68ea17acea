package balancertest

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// Zone is the zone name (upstream= in the API) StartNginx declares.
const Zone = "backend_zone"

// Where Debian's libnginx-mod-http-lua and libnginx-mod-http-ndk put the
// modules. A private config loads them by absolute path, NDK first.
const (
	ndkModule = "/usr/lib/nginx/modules/ndk_http_module.so"
	luaModule = "/usr/lib/nginx/modules/ngx_http_lua_module.so"
	restyCore = "/usr/share/lua/5.1/resty/core.lua"
)

// Nginx is a running nginx in front of backends, with the Lua drop-in or
// (Options.Module) the real ngx_dynamic_upstream module serving the API.
type Nginx struct {
	APIURL   string // base URL of the dynamic_upstream location: http://127.0.0.1:P/dynamic
	Frontend string // http://127.0.0.1:P, proxied to the upstream
	Zone     string // the zone name to pass as upstream=
	Dir      string // the private prefix
	ConfPath string // nginx.conf, which a test may rewrite before Reload
	ErrorLog string
	// AccessLog has one line per request: worker PID, $upstream_addr,
	// status, URI.
	AccessLog string
	Process   *testenv.Process
	Options   NginxOptions
	t         testing.TB
}

// NginxOptions shapes the generated config.
type NginxOptions struct {
	Backends []string // IP:port, in this order
	Workers  int      // worker_processes; default 1
	// Server parameters for the drop-in, keyed by backend address, written as
	// Lua table fields, e.g. "weight = 2, max_fails = 0".
	ServerParams map[string]string
	// Extra directives for the proxied location, e.g. "proxy_next_upstream off;".
	LocationExtra string
	// ReadTimeout is the proxied location's proxy_read_timeout (nginx
	// syntax, e.g. "3s"); default 40s.
	ReadTimeout string
	// Extra directives for the proxying server block, e.g. a named location.
	ServerExtra string

	// Module runs the real ngx_dynamic_upstream module (built by
	// DynamicUpstreamModule) instead of the Lua drop-in. ServerParams keep
	// the drop-in's Lua form and are written as nginx server parameters.
	Module bool
	// Module only: backup servers of the upstream block (the module never
	// lists them), and the servers of a second upstream block that shares
	// the zone (the module lists only the first block's servers). The
	// second block is reachable through Frontend + "/second/".
	Backup        []string
	SecondServers []string
	// ModulePath is the module's .so; StartNginxWith fills it in.
	ModulePath string

	// APIHtpasswd, when set, is the content of an htpasswd file
	// (`user:{PLAIN}password` or `user:$apr1$…` lines) and the API location
	// requires HTTP basic auth against it (401 otherwise), for the drop-in
	// and the module alike. The loopback allow list stays.
	APIHtpasswd string
}

// StartNginx starts nginx (Debian's, with the Lua module) under a private
// prefix with `workers` worker processes, serving the drop-in's API at
// APIURL and proxying Frontend to backends (IP:port). It skips the test
// when nginx or its Lua module is missing (fails under CI=true).
func StartNginx(t testing.TB, backends []string, workers int) *Nginx {
	t.Helper()
	return StartNginxWith(t, NginxOptions{Backends: backends, Workers: workers})
}

// StartModuleNginx is StartNginx with the real ngx_dynamic_upstream module
// instead of the Lua drop-in.
func StartModuleNginx(t testing.TB, backends []string, workers int) *Nginx {
	t.Helper()
	return StartNginxWith(t, NginxOptions{Backends: backends, Workers: workers, Module: true})
}

// StartNginxWith is StartNginx with every option.
func StartNginxWith(t testing.TB, o NginxOptions) *Nginx {
	t.Helper()
	bin := testenv.RequireCommand(t, "nginx")
	if o.Module {
		o.ModulePath = DynamicUpstreamModule(t)
	} else {
		if len(o.Backup) > 0 || len(o.SecondServers) > 0 {
			t.Fatal("balancertest: Backup and SecondServers need Module (the drop-in has neither)")
		}
		for _, f := range []string{ndkModule, luaModule, restyCore} {
			if _, err := os.Stat(f); err != nil {
				testenv.Skip(t, "%s is missing (Debian packages libnginx-mod-http-lua, lua-resty-core)", f)
			}
		}
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	dir := t.TempDir()
	for _, sub := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := &Nginx{
		Zone:      Zone,
		Dir:       dir,
		ConfPath:  filepath.Join(dir, "nginx.conf"),
		ErrorLog:  filepath.Join(dir, "logs", "error.log"),
		AccessLog: filepath.Join(dir, "logs", "access.log"),
		Options:   o,
		t:         t,
	}
	apiPort, fePort := testenv.FreePort(t), testenv.FreePort(t)
	for fePort == apiPort {
		fePort = testenv.FreePort(t)
	}
	n.APIURL = fmt.Sprintf("http://127.0.0.1:%d/dynamic", apiPort)
	n.Frontend = fmt.Sprintf("http://127.0.0.1:%d", fePort)
	conf, err := NginxConfig(dir, apiPort, fePort, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.ConfPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "logs", "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd := exec.Command(bin, "-p", dir, "-c", n.ConfPath)
	cmd.Stdout, cmd.Stderr = out, out
	n.Process = testenv.Start(t, cmd)
	n.waitReady(apiPort, fePort)
	return n
}

func (n *Nginx) waitReady(ports ...int) {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range ports {
		for !dialOK(fmt.Sprintf("127.0.0.1:%d", p)) {
			if n.Process.Exited() || time.Now().After(deadline) {
				n.t.Fatalf("nginx did not start:\n%s\n%s", readFile(filepath.Join(n.Dir, "logs", "stderr.log")), readFile(n.ErrorLog))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	n.waitWorkers(nil)
}

// Reload sends SIGHUP (what `nginx -s reload` does) and waits until the new
// workers run. Old workers finish their requests in the background.
func (n *Nginx) Reload() {
	n.t.Helper()
	before := map[int]bool{}
	for _, pid := range children(n.Process.Cmd.Process.Pid) {
		before[pid] = true
	}
	if err := syscall.Kill(n.Process.Cmd.Process.Pid, syscall.SIGHUP); err != nil {
		n.t.Fatalf("reload nginx: %v", err)
	}
	n.waitWorkers(before)
}

// ReloadSettled is Reload, then waits (up to 30 s) until the old workers
// have exited. nginx runs old and new workers side by side for 100 ms after
// a reload, and an old worker still answers with the state from before it
// (the C module's down flags and failure counts); after ReloadSettled every
// request and API call reaches a new worker. Old workers finishing long
// requests hold it up.
func (n *Nginx) ReloadSettled() {
	n.t.Helper()
	old := map[int]bool{}
	for _, pid := range children(n.Process.Cmd.Process.Pid) {
		old[pid] = true
	}
	n.Reload()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := 0
		for _, pid := range children(n.Process.Cmd.Process.Pid) {
			if old[pid] {
				left++
			}
		}
		if left == 0 {
			return
		}
		if n.Process.Exited() || time.Now().After(deadline) {
			n.t.Fatalf("nginx: %d old workers still running 30 s after the reload", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitWorkers waits until the master has Options.Workers children that are
// not in old.
func (n *Nginx) waitWorkers(old map[int]bool) {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fresh := 0
		for _, pid := range children(n.Process.Cmd.Process.Pid) {
			if !old[pid] {
				fresh++
			}
		}
		if fresh >= n.Options.Workers {
			return
		}
		if n.Process.Exited() || time.Now().After(deadline) {
			n.t.Fatalf("nginx: %d of %d new workers running:\n%s", fresh, n.Options.Workers, readFile(n.ErrorLog))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WorkerPIDs lists the worker processes running now (old ones included
// while they finish after a reload).
func (n *Nginx) WorkerPIDs() []int { return children(n.Process.Cmd.Process.Pid) }

// children lists the PIDs whose parent is ppid, from /proc.
func children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[1] == strconv.Itoa(ppid) && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// NginxConfig returns a complete nginx.conf for prefix dir: every temp
// path inside dir, the API on 127.0.0.1:apiPort at /dynamic, and
// 127.0.0.1:frontendPort proxied to o.Backends through the zone Zone. The
// API is the drop-in from the repository's nginx/ folder (the Lua modules
// loaded by absolute path), or with o.Module the real module at
// o.ModulePath.
func NginxConfig(dir string, apiPort, frontendPort int, o NginxOptions) (string, error) {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	data := map[string]any{
		"Dir":         dir,
		"Workers":     o.Workers,
		"Root":        os.Geteuid() == 0,
		"Zone":        Zone,
		"API":         apiPort,
		"Frontend":    frontendPort,
		"Extra":       o.LocationExtra,
		"ReadTimeout": cmp.Or(o.ReadTimeout, "40s"),
		"ServerExtra": o.ServerExtra,
	}
	if o.APIHtpasswd != "" {
		path := filepath.Join(dir, "api.htpasswd")
		if err := os.WriteFile(path, []byte(o.APIHtpasswd), 0o644); err != nil {
			return "", fmt.Errorf("balancertest: %v", err)
		}
		data["Htpasswd"] = path
	}
	if o.Module {
		if o.ModulePath == "" {
			return "", fmt.Errorf("balancertest: Module without ModulePath (see DynamicUpstreamModule)")
		}
		servers, err := moduleServers(o)
		if err != nil {
			return "", err
		}
		data["Module"] = o.ModulePath
		data["Servers"] = servers
		data["Second"] = o.SecondServers
		var sb strings.Builder
		err = nginxTemplate.Execute(&sb, data)
		return sb.String(), err
	}
	var servers []string
	for _, b := range o.Backends {
		if p := o.ServerParams[b]; p != "" {
			servers = append(servers, fmt.Sprintf("{ %q, %s }", b, p))
		} else {
			servers = append(servers, strconv.Quote(b))
		}
	}
	data["LuaDir"] = filepath.Join(testenv.RepoRoot(), "nginx")
	data["Servers"] = strings.Join(servers, ",\n            ")
	data["NDK"] = ndkModule
	data["Lua"] = luaModule
	var sb strings.Builder
	err := nginxTemplate.Execute(&sb, data)
	return sb.String(), err
}

// moduleServers writes the server lines of the upstream block: the
// backends with their ServerParams turned from the drop-in's Lua form
// ("weight = 2, down = true") into nginx's ("weight=2 down"), then the
// backups.
func moduleServers(o NginxOptions) ([]string, error) {
	var out []string
	for _, b := range o.Backends {
		line := b
		if p := o.ServerParams[b]; p != "" {
			for _, kv := range strings.Split(p, ",") {
				k, v, ok := strings.Cut(kv, "=")
				k, v = strings.TrimSpace(k), strings.TrimSpace(v)
				switch {
				case !ok || k == "" || v == "":
					return nil, fmt.Errorf("balancertest: server %s: parameter %q is not name = value", b, kv)
				case k == "down" && v == "true":
					line += " down"
				case k == "down" && v == "false":
				case k == "fail_timeout":
					line += " fail_timeout=" + v + "s"
				default:
					line += " " + k + "=" + v
				}
			}
		}
		out = append(out, line)
	}
	for _, b := range o.Backup {
		out = append(out, b+" backup")
	}
	return out, nil
}

// nginxTemplate writes both kinds: the Lua drop-in (NDK, Lua set) or the
// real module (Module set), around the same prefix, logs, frontend and API.
var nginxTemplate = template.Must(template.New("nginx.conf").Parse(`# generated by lib/balancer/balancertest
{{if .Module}}load_module {{.Module}};
{{else}}load_module {{.NDK}};
load_module {{.Lua}};
{{end}}{{if .Root}}user root;
{{end}}worker_processes {{.Workers}};
daemon off;
master_process on;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/logs/error.log notice;

events {
    worker_connections 256;
}

http {
    # $pid tells which worker served a request; $upstream_addr where it went.
    log_format balancertest '$pid $upstream_addr $status $request_uri';
    access_log {{.Dir}}/logs/access.log balancertest;
    client_body_temp_path {{.Dir}}/tmp/client_body;
    proxy_temp_path {{.Dir}}/tmp/proxy;
    fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
    uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
    scgi_temp_path {{.Dir}}/tmp/scgi;
{{if .Module}}
    upstream backend {
        zone {{.Zone}} 1m;
{{- range .Servers}}
        server {{.}};
{{- end}}
        keepalive 8;
    }
{{- if .Second}}

    # A second block in the same zone: the module lists only the first's servers.
    upstream backend_second {
        zone {{.Zone}};
{{- range .Second}}
        server {{.}};
{{- end}}
    }
{{- end}}
{{else}}
    lua_shared_dict dynamic_upstream 1m;
    lua_package_path "{{.LuaDir}}/?.lua;;";

    init_by_lua_block {
        require("dynamic_upstream").upstream("{{.Zone}}", {
            {{.Servers}}
        })
    }

    log_by_lua_block {
        require("dynamic_upstream").log()
    }

    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            require("dynamic_upstream").balance("{{.Zone}}")
        }
        keepalive 8;
    }
{{end}}
    server {
        # reuseport spreads connections over every worker.
        listen 127.0.0.1:{{.Frontend}} reuseport;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_read_timeout {{.ReadTimeout}};
            {{.Extra}}
        }
{{- if .Second}}
        location /second/ {
            proxy_pass http://backend_second/;
        }
{{- end}}
        {{.ServerExtra}}
    }

    server {
        listen 127.0.0.1:{{.API}};
        location /dynamic {
            allow 127.0.0.1;
            deny all;
{{- if .Htpasswd}}
            auth_basic "dynamic_upstream";
            auth_basic_user_file {{.Htpasswd}};
{{- end}}
{{- if .Module}}
            dynamic_upstream;
{{- else}}
            content_by_lua_block {
                require("dynamic_upstream").api()
            }
{{- end}}
        }
    }
}
`))

func dialOK(addr string) bool {
	c, err := dialTimeout(addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
