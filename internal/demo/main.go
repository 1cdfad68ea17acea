// demo is `make demo`: the suite's whole story on one machine. It starts
// Debian's nginx with the Lua drop-in (nginx/) in front of three app
// servers, sends traffic through it, rolls a new version out with
// deploy-tool while the traffic flows, then runs mackerel-plugin-accesslog
// over nginx's access log and mackerel-plugin-upstream over its API and
// prints what Mackerel would receive, the rollout's graph annotation, and a
// second rollout refused by a freeze (deploys.go). Everything it starts is stopped by
// PID before it exits; its files stay in demo-out/.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sre-suite/mackerel-plugins/internal/loadgen"
	"github.com/sre-suite/mackerel-plugins/lib/mackereltest"
)

const (
	out       = "demo-out"
	zone      = "backend_zone"
	rate      = 300 // requests per second during the rollout
	ndkModule = "/usr/lib/nginx/modules/ndk_http_module.so"
	luaModule = "/usr/lib/nginx/modules/ngx_http_lua_module.so"
)

type demo struct {
	root, dir  string
	apps       []string // IP:port
	nginx      *exec.Cmd
	front, api string
	stateDir   string
	deployConf string
	// deploy-tool's [mackerel] and [window] (deploys.go)
	mackerel *mackereltest.Server
	calendar string
}

func main() {
	d := &demo{}
	err := d.run()
	d.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func (d *demo) run() error {
	var err error
	if d.root, err = os.Getwd(); err != nil {
		return err
	}
	d.dir = filepath.Join(d.root, out)
	os.RemoveAll(d.dir)
	for _, sub := range []string{"apps", "nginx/logs", "nginx/tmp", "state", "deploy"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return err
		}
	}
	d.stateDir = filepath.Join(d.dir, "state")
	// Interrupted: still stop what was started.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; d.cleanup(); os.Exit(130) }()

	step("1. three app servers (version v1) and nginx with the Lua drop-in in front of them")
	if err := d.startApps(); err != nil {
		return err
	}
	if err := d.startNginx(); err != nil {
		return err
	}
	fmt.Printf("apps %s; nginx front end %s, dynamic upstream API %s\n", strings.Join(d.apps, " "), d.front, d.api)
	fmt.Print(mustGet(d.api + "?upstream=" + zone + "&verbose="))

	// The accesslog plugin's first run marks where the log ends now.
	if _, err := d.plugin("mackerel-plugin-accesslog", d.accesslogArgs()...); err != nil {
		return err
	}

	step("2. about %d requests/s through nginx (keep-alive; fast GETs, POSTs, slow GETs of 1-2 s) while deploy-tool rolls out v2", rate)
	load := loadgen.Start(d.front, rate)
	time.Sleep(2 * time.Second)
	if err := d.writeDeployConfig(); err != nil {
		load.Stop()
		return err
	}
	rollErr := d.deploy("rollout")
	time.Sleep(2 * time.Second)
	rep := load.Report()
	fmt.Printf("\nload: %s\n", rep.Text)
	if rollErr != nil {
		return fmt.Errorf("deploy-tool rollout: %w", rollErr)
	}

	step("3. what Mackerel receives from mackerel-plugin-accesslog (nginx's access log, this run)")
	acc, err := d.plugin("mackerel-plugin-accesslog", d.accesslogArgs()...)
	if err != nil {
		return err
	}
	show(acc, `\.access_num\.(total|2xx|5xx|502)_count$`, `\.rps\.total$`, `\.access_rate\.5xx_percentage$`,
		`\.latency\.`, `\.group_access_num\..*\.(total|5xx)_count$`)

	step("4. what Mackerel receives from mackerel-plugin-upstream (the drop-in's API)")
	up, err := d.plugin("mackerel-plugin-upstream", "--config", d.deployConf)
	if err != nil {
		return err
	}
	fmt.Print(up)

	step("5. deploy-tool status")
	if err := d.deploy("status"); err != nil {
		return err
	}
	if err := d.showAnnotation(); err != nil {
		return err
	}
	if err := d.freeze(); err != nil {
		return err
	}
	if err := d.fleet(); err != nil {
		return err
	}

	fmt.Println()
	versions := d.versions()
	switch {
	case rep.Non2xx > 0 || rep.Errors > 0:
		return fmt.Errorf("%d non-2xx responses and %d transport errors during the rollout", rep.Non2xx, rep.Errors)
	case strings.Count(versions, "v2") != len(d.apps):
		return fmt.Errorf("apps serve %s, want v2 everywhere", versions)
	}
	fmt.Printf("demo: %d requests during the rollout, 0 errors, every app serves v2 (%s); files in %s/\n", rep.Total, versions, out)
	return nil
}

// startApps starts the apps with deploy-tool's test app, detached, on ports
// below the ephemeral range (a restarting app's port must not be taken).
func (d *demo) startApps() error {
	bin := filepath.Join(d.dir, "testapp")
	if err := run(exec.Command("go", "build", "-o", bin, "./deploy-tool/internal/testapp")); err != nil {
		return err
	}
	for len(d.apps) < 3 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		d.apps = append(d.apps, addr)
		if err := run(exec.Command("/bin/sh", "-c", d.appCommand("v1", addr))); err != nil {
			return err
		}
	}
	return nil
}

// appCommand is the deploy command: restart the app with a version. The
// template form ({addr}, {port}) goes into deploy-tool's config.
func (d *demo) appCommand(version, addr string) string {
	apps := filepath.Join(d.dir, "apps")
	cmd := fmt.Sprintf("%s restart --addr {addr} --version %s --pidfile %s/{port}.pid --log %s/{port}.log --max-lifetime 3m",
		filepath.Join(d.dir, "testapp"), version, apps, apps)
	if addr == "" {
		return cmd
	}
	_, port, _ := net.SplitHostPort(addr)
	return strings.NewReplacer("{addr}", addr, "{port}", port).Replace(cmd)
}

func (d *demo) accesslogArgs() []string {
	return []string{"--file", filepath.Join(d.dir, "nginx", "logs", "access.log"), "--metric-key-prefix", "nginx",
		"--group-by", "upstream", "--upstream-time-key", "apptime"}
}

// deploy runs bin/deploy-tool with the demo's config, its output shown,
// bounded by two minutes (SIGTERM lets it undo its current step).
func (d *demo) deploy(sub string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(d.root, "bin", "deploy-tool"), sub, "--config", d.deployConf)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	return cmd.Run()
}

// plugin runs one of the built plugins with the demo's state directory.
func (d *demo) plugin(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(d.root, "bin", name), args...)
	cmd.Env = append(os.Environ(), "MACKEREL_PLUGIN_WORKDIR="+d.stateDir)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return string(b), nil
}

// show prints the metric lines whose names match one of the patterns.
func show(metrics string, patterns ...string) {
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		for _, p := range patterns {
			if regexp.MustCompile(p).MatchString(f[0]) {
				fmt.Printf("%-58s %s\n", f[0], f[1])
				break
			}
		}
	}
}

func (d *demo) versions() string {
	var vs []string
	for _, a := range d.apps {
		vs = append(vs, strings.TrimSpace(mustGet("http://"+a+"/version")))
	}
	return strings.Join(vs, " ")
}

// cleanup stops nginx and the apps by PID; it may run twice.
func (d *demo) cleanup() {
	if d.nginx != nil && d.nginx.Process != nil {
		syscall.Kill(-d.nginx.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.nginx.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-d.nginx.Process.Pid, syscall.SIGKILL)
		}
		d.nginx = nil
	}
	for _, a := range d.apps {
		_, port, _ := net.SplitHostPort(a)
		b, err := os.ReadFile(filepath.Join(d.dir, "apps", port+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	d.apps = nil
	if d.mackerel != nil {
		d.mackerel.Close()
		d.mackerel = nil
	}
}

func run(cmd *exec.Cmd) error {
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	return nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mustGet(url string) string {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		return "error: " + err.Error() + "\n"
	}
	return string(b)
}
