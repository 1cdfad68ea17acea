package main

// Integration tests run a real memcached (Debian's memcached 1.6), started
// on a free loopback port (or a unix socket in t.TempDir()) and stopped by
// PID at cleanup. Skipped when memcached is missing, except under CI=true
// where that fails. The peers that are not memcached are small Go servers.

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// memcachedServer is one memcached started by a test.
type memcachedServer struct {
	Port   int
	Socket string
	bin    string
	args   []string
	proc   *testenv.Process
}

// Addr is the TCP address as the check prints it.
func (m *memcachedServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.Port)) }

func (m *memcachedServer) network() (string, string) {
	if m.Socket != "" {
		return "unix", m.Socket
	}
	return "tcp", m.Addr()
}

// startMemcached starts memcached on a free loopback port, or on a unix
// socket in a temporary directory when onSocket.
func startMemcached(t *testing.T, onSocket bool) *memcachedServer {
	t.Helper()
	m := &memcachedServer{bin: testenv.RequireCommand(t, "memcached")}
	// As root memcached wants -u: nobody, except on a socket in the test's
	// private (0700) directory, which only root can create files in. Not
	// -d/-P: as nobody it could not write the pid file; the test knows the PID.
	user := "nobody"
	if onSocket {
		user = "root"
	}
	m.args = []string{"-U", "0", "-m", "16", "-c", "64", "-u", user}
	if onSocket {
		m.Socket = filepath.Join(t.TempDir(), "memcached.sock")
		m.args = append(m.args, "-s", m.Socket, "-a", "0700")
	} else {
		m.Port = testenv.FreePort(t)
		m.args = append(m.args, "-l", "127.0.0.1", "-p", strconv.Itoa(m.Port))
	}
	m.start(t)
	return m
}

func (m *memcachedServer) start(t *testing.T) {
	t.Helper()
	m.proc = testenv.Start(t, exec.Command(m.bin, m.args...))
	network, addr := m.network()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if m.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("memcached %v did not start: %v", m.args, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart stops memcached by PID and starts it again on the same address.
func (m *memcachedServer) restart(t *testing.T) {
	t.Helper()
	m.proc.Stop()
	m.start(t)
}

// uptime reads the server's uptime with the check's own stats exchange.
func (m *memcachedServer) uptime(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	network, addr := m.network()
	st, _, err := fetchStats(ctx, network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return st.Uptime
}

func (m *memcachedServer) waitUptime(t *testing.T, secs int64) {
	t.Helper()
	for up := m.uptime(t); up < secs; up = m.uptime(t) {
		time.Sleep(time.Duration(secs-up) * time.Second / 2)
	}
}

// fakeServer listens on a loopback port and runs handle for each
// connection; cleanup closes the listener and every connection.
func fakeServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// replyThenClose reads one line, writes reply and closes.
func replyThenClose(reply string) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte(reply))
	}
}

// replyThenHold reads one line, writes reply and keeps the connection open
// until the test ends.
func replyThenHold(reply string) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte(reply))
		var buf [1]byte
		c.Read(buf[:]) // until the cleanup closes it
	}
}
