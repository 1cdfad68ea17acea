// Package fleettest starts Debian's real redis-server for the fleet's tests:
// a single server or a three-node cluster on loopback ports in temp dirs,
// stopped by PID when the test ends.
package fleettest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// Redis is one redis-server started by a test.
type Redis struct {
	Port int
	Dir  string
	CA   *CA // with StartRedisTLS: the CA of the server's certificate
	args []string
	proc *testenv.Process
	t    testing.TB
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is redis://host:port/0, or rediss:// when the server listens with TLS.
func (r *Redis) URL() string {
	if r.CA != nil {
		return "rediss://" + r.Addr() + "/0"
	}
	return "redis://" + r.Addr() + "/0"
}

// StartRedis starts a single redis-server without persistence.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	r := &Redis{Port: testenv.FreePort(t), Dir: t.TempDir(), t: t}
	r.args = append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", r.Dir}, extra...)
	r.Start()
	return r
}

// Start (re)starts the server with its arguments and waits until it answers.
func (r *Redis) Start() {
	r.t.Helper()
	bin := testenv.RequireCommand(r.t, "redis-server")
	cmd := exec.Command(bin, r.args...)
	log, err := os.OpenFile(filepath.Join(r.Dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	r.proc = testenv.Start(r.t, cmd)
	log.Close()
	r.waitPing()
}

// WaitWritten waits until the server has written its append-only buffer
// to the file and no fsync is pending, so that a SIGKILL (not a machine
// crash) loses nothing: under appendfsync everysec a slow disk makes
// Redis hold writes back for up to 2 s, which README says.
func (r *Redis) WaitWritten() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := r.Cli("info", "persistence")
		if err == nil && strings.Contains(info, "aof_buffer_length:0") && strings.Contains(info, "aof_pending_bio_fsync:0") {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: append-only buffer not written within 10 s: %v\n%s", r, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server by PID.
func (r *Redis) Stop() { r.proc.Stop() }

// Kill ends the server with SIGKILL, by PID: no shutdown, no last save, as
// a crash or the OOM killer.
func (r *Redis) Kill() {
	r.proc.Cmd.Process.Signal(syscall.SIGKILL)
	<-r.proc.Done()
}

func (r *Redis) waitPing() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := r.Cli("ping")
		if err == nil && (strings.TrimSpace(out) == "PONG" || strings.HasPrefix(out, "NOAUTH")) { // alive, with --requirepass
			return
		}
		if r.proc.Exited() || time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
			r.t.Fatalf("redis-server on port %d did not answer PING: %v %s\n%s", r.Port, err, out, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Cli runs redis-cli against the server, bounded by 20 s.
func (r *Redis) Cli(args ...string) (string, error) {
	pre := []string{"-p", strconv.Itoa(r.Port)}
	if r.CA != nil {
		pre = append(pre, "--tls", "--cacert", r.CA.File)
	}
	return cli(r.t, append(pre, args...)...)
}

func cli(t testing.TB, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bin := testenv.RequireCommand(t, "redis-cli")
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", "127.0.0.1"}, args...)...).CombinedOutput()
	return string(out), err
}

// StartCluster starts three redis-servers with --cluster-enabled yes, joins
// them with redis-cli --cluster create (no replicas) and waits until the
// cluster is ok. It returns the nodes; any one of them is a seed address.
func StartCluster(t testing.TB) []*Redis {
	t.Helper()
	return startCluster(t, func(extra ...string) *Redis { return StartRedis(t, extra...) })
}

// startCluster starts three nodes with start and joins them; cliArgs are
// redis-cli's connection flags (TLS).
func startCluster(t testing.TB, start func(extra ...string) *Redis, cliArgs ...string) []*Redis {
	t.Helper()
	var nodes []*Redis
	var addrs []string
	for range 3 {
		// The bus port is named: its default, the port + 10000, may be
		// taken (or past 65535) on a busy machine.
		n := start("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
			"--cluster-port", strconv.Itoa(testenv.FreePort(t)))
		nodes = append(nodes, n)
		addrs = append(addrs, n.Addr())
	}
	out, err := cli(t, append(append(append(cliArgs, "--cluster", "create"), addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			info, err := n.Cli("cluster", "info")
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster of %v not ok within 30 s", addrs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// KeySlots says which node holds key (by CLUSTER KEYSLOT), for assertions.
func KeySlot(t testing.TB, n *Redis, key string) int {
	t.Helper()
	out, err := n.Cli("cluster", "keyslot", key)
	if err != nil {
		t.Fatalf("cluster keyslot: %v %s", err, out)
	}
	s, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("cluster keyslot %s: %q", key, out)
	}
	return s
}

// String names the server in messages.
func (r *Redis) String() string { return fmt.Sprintf("redis-server %s", r.Addr()) }
