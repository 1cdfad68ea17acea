package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// unboundServer is Debian's unbound, started by a test on a loopback port
// with local zones only (no recursion to the Internet).
type unboundServer struct {
	addr string
	conf string
	dir  string
	proc *testenv.Process
}

// unboundConfig writes a config that serves the given local-zone and
// local-data lines; it runs in the foreground, as the caller, unchrooted.
func unboundConfig(dir string, port int, zone []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
    interface: 127.0.0.1@%[1]d
    port: %[1]d
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "%[2]s"
    pidfile: "%[2]s/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    do-ip6: no
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    do-not-query-localhost: yes
`, port, dir)
	for _, l := range zone {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("remote-control:\n    control-enable: no\n")
	return b.String()
}

func startUnbound(t *testing.T, zone []string) *unboundServer {
	t.Helper()
	bin := testenv.RequireCommand(t, "unbound")
	dir := t.TempDir()
	port := freeUDPAndTCPPort(t)
	u := &unboundServer{addr: fmt.Sprintf("127.0.0.1:%d", port), conf: filepath.Join(dir, "unbound.conf"), dir: dir}
	u.write(t, port, zone)
	cmd := exec.Command(bin, "-d", "-c", u.conf)
	log, _ := os.Create(filepath.Join(dir, "unbound.log"))
	cmd.Stdout, cmd.Stderr = log, log
	u.proc = testenv.Start(t, cmd)
	u.waitAnswer(t, func(*dns.Msg) bool { return true })
	return u
}

func (u *unboundServer) write(t *testing.T, port int, zone []string) {
	t.Helper()
	if err := os.WriteFile(u.conf, []byte(unboundConfig(u.dir, port, zone)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reload rewrites the config and sends SIGHUP, as `systemctl reload` does,
// then waits until the server answers for name with the given address.
func (u *unboundServer) reload(t *testing.T, zone []string, name, wantAddr string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(u.addr)
	var p int
	fmt.Sscan(port, &p)
	u.write(t, p, zone)
	if err := u.proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	u.waitAnswer(t, func(m *dns.Msg) bool {
		if !strings.HasSuffix(m.Question[0].Name, name) {
			return false
		}
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok && a.A.String() == wantAddr {
				return true
			}
		}
		return false
	}, name)
}

// waitAnswer asks until the server answers and ok accepts the answer.
func (u *unboundServer) waitAnswer(t *testing.T, ok func(*dns.Msg) bool, name ...string) {
	t.Helper()
	q := "www.rr.test."
	if len(name) > 0 {
		q = name[0]
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(q, dns.TypeA)
		c := &dns.Client{Timeout: 300 * time.Millisecond}
		resp, _, err := c.Exchange(m, u.addr)
		if err == nil && ok(resp) {
			return
		}
		if u.proc.Exited() || time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(u.dir, "unbound.log"))
			t.Fatalf("unbound on %s not ready: %v\n%s", u.addr, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeUDPAndTCPPort finds a loopback port free for both UDP and TCP.
func freeUDPAndTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		p := testenv.FreePort(t)
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			pc.Close()
			return p
		}
	}
	t.Fatal("no free port for UDP and TCP")
	return 0
}

// silentUDP is a port that reads queries and never replies.
func silentUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// member listens on ip:port as a load balancer would: plain TCP accept, and
// HTTP answering status on every path.
func member(t *testing.T, ip string, port int, status int) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		testenv.Skip(t, "cannot listen on %s (Linux routes 127/8 to lo; this system does not): %v", ip, err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.Host, ".rr.test") { // the probe names the site, as a browser would
				http.Error(w, "no such site "+r.Host, http.StatusMisdirectedRequest)
				return
			}
			w.WriteHeader(status)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
}
