package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fleet is the demo's last step: nginx's access log split in two, read as
// two hosts with --fleet-redis into a real redis-server, the window closed,
// mackerel-service-accesslog's service metrics piped into the real
// `mkr throw --service` and received by a local fake Mackerel API.
func (d *demo) fleet() error {
	step("8. the service's view: the log read as two hosts, merged exactly in Redis, posted by mkr throw as service metrics")
	dir := filepath.Join(d.dir, "fleet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logs, err := splitLog(filepath.Join(d.dir, "nginx", "logs", "access.log"), dir)
	if err != nil {
		return err
	}
	redisURL, stop, err := startRedis(dir)
	if err != nil {
		return err
	}
	defer stop()
	const window = 5 * time.Second
	// A first aggregator run, as a deployment's cron would have done: the
	// service's data begins in this Redis now, and the window this happens in
	// would be incomplete. Both hosts' runs then go into the next window (a
	// delivery up to the 30 s grace recorded here after its end still counts).
	if _, err := d.plugin("mackerel-service-accesslog", "--redis", redisURL, "--service", "demo", "--grace", "30s", "--state-dir", dir); err != nil {
		return err
	}
	time.Sleep(time.Until(time.Now().Truncate(window).Add(window + 100*time.Millisecond)))
	end := time.Now().Truncate(window).Add(window)
	hostP95 := map[string]string{}
	for i, log := range logs {
		host := fmt.Sprintf("web%d", i+1)
		out, err := d.plugin("mackerel-plugin-accesslog", "--file", log, "--from-start", "--metric-key-prefix", "nginx",
			"--upstream-time-key", "apptime", "--state-dir", filepath.Join(dir, "state"),
			"--fleet-redis", redisURL, "--fleet-service", "demo", "--fleet-host", host, "--fleet-window", window.String())
		if err != nil {
			return err
		}
		hostP95[host] = metricValue(out, "nginx.latency.95_percentile")
		fmt.Printf("%s: %s requests, p95 %s s, fleet.delivered_count %s\n", host, metricValue(out, "nginx.access_num.total_count"),
			hostP95[host], metricValue(out, "nginx.fleet.delivered_count"))
	}
	time.Sleep(time.Until(end) + 100*time.Millisecond) // the window closes
	api := newFakeMackerel()
	defer api.Close()
	agg, err := d.plugin("mackerel-service-accesslog", "--redis", redisURL, "--service", "demo", "--grace", "0s", "--metric-key-prefix", "nginx", "--state-dir", dir)
	if err != nil {
		return err
	}
	mkr := filepath.Join(d.root, "bin", "tools", "mkr")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	throw := exec.CommandContext(ctx, mkr, "--apibase", api.URL, "throw", "--service", "demo")
	throw.Env = append(os.Environ(), "MACKEREL_APIKEY=demo-key")
	throw.Stdin = strings.NewReader(agg)
	if b, err := throw.CombinedOutput(); err != nil {
		return fmt.Errorf("mkr throw --service demo: %w\n%s", err, b)
	}
	received := api.received()
	fmt.Printf("the fake Mackerel API received %d service metric values for service demo; among them:\n", len(received))
	for _, name := range []string{"nginx.access_num.total_count", "nginx.access_num.5xx_count", "nginx.fleet.hosts_count",
		"nginx.latency.50_percentile", "nginx.latency.95_percentile", "nginx.latency.99_percentile", "nginx.latency.max"} {
		fmt.Printf("%-58s %s\n", name, received[name])
	}
	fmt.Printf("the mean of the two hosts' p95 would say %s s; the service's true p95 is %s s\n",
		meanOf(hostP95["web1"], hostP95["web2"]), received["nginx.latency.95_percentile"])
	if received["nginx.fleet.hosts_count"] != "2" {
		return fmt.Errorf("the service metrics count %q hosts, want 2", received["nginx.fleet.hosts_count"])
	}
	return nil
}

// splitLog writes the log's lines alternately to two files, as two hosts
// behind one load balancer would have written them.
func splitLog(src, dir string) ([]string, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	paths := []string{filepath.Join(dir, "web1.access.log"), filepath.Join(dir, "web2.access.log")}
	var outs []*bufio.Writer
	for _, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		defer w.Flush()
		outs = append(outs, w)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; sc.Scan(); i++ {
		fmt.Fprintln(outs[i%2], sc.Text())
	}
	return paths, sc.Err()
}

// startRedis starts Debian's redis-server on a free loopback port, without
// persistence; stop ends it by PID.
func startRedis(dir string) (url string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server is missing: run as root so that make demo installs redis-server")
	}
	port := freePort()
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	stop = func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		}
		logf.Close()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "ping").Output(); err == nil && strings.TrimSpace(string(out)) == "PONG" {
			fmt.Printf("redis-server on %s\n", addr)
			return "redis://" + addr + "/0", stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("redis-server on %s did not answer within 10 s", addr)
}

// fakeMackerel records the service metrics mkr throw posts.
type fakeMackerel struct {
	*httptest.Server
	mu     sync.Mutex
	values map[string]string
}

func newFakeMackerel() *fakeMackerel {
	f := &fakeMackerel{values: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ms []struct {
			Name  string      `json:"name"`
			Value json.Number `json:"value"`
		}
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if r.Method != http.MethodPost || r.URL.Path != "/api/v0/services/demo/tsdb" || dec.Decode(&ms) != nil {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		for _, m := range ms {
			f.values[m.Name] = m.Value.String()
		}
		f.mu.Unlock()
		io.WriteString(w, `{"success":true}`)
	}))
	return f
}

func (f *fakeMackerel) received() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.values))
	for k, v := range f.values {
		out[k] = v
	}
	return out
}

func metricValue(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == name {
			return f[1]
		}
	}
	return "-"
}

func meanOf(vals ...string) string {
	var sum float64
	for _, v := range vals {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return "-"
		}
		sum += x
	}
	return strconv.FormatFloat(sum/float64(len(vals)), 'f', 4, 64)
}
