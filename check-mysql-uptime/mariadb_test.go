package main

// Integration tests run a real MariaDB (Debian's mariadb-server 10.11:
// mariadbd and mariadb-install-db), started on a free loopback port with its
// data directory and socket in t.TempDir(), and stopped by PID at cleanup.
// Skipped when MariaDB is missing, except under CI=true where that fails.

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// mariadb is one server started by a test.
type mariadb struct {
	dir    string
	Port   int
	Socket string
	args   []string
	bin    string
	proc   *testenv.Process
}

// Addr is the server's TCP address as the check prints it.
func (m *mariadb) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.Port)) }

// startMariaDB initialises a data directory and starts mariadbd on a free
// loopback port; extra are more server options (TLS).
func startMariaDB(t *testing.T, extra ...string) *mariadb {
	t.Helper()
	mariadbd := testenv.RequireCommand(t, "mariadbd")
	installDB := testenv.RequireCommand(t, "mariadb-install-db")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	install := exec.CommandContext(ctx, installDB, "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
		"--innodb-log-file-size=8M")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m := &mariadb{dir: dir, Port: testenv.FreePort(t), Socket: filepath.Join(dir, "s.sock"), bin: mariadbd}
	// --no-defaults must come first: Debian's my.cnf points elsewhere.
	m.args = append([]string{"--no-defaults", "--datadir=" + data, "--user=root",
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(m.Port), "--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(dir, "mariadbd.pid"), "--log-error=" + filepath.Join(dir, "err.log"),
		"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--innodb-log-file-size=8M"}, extra...)
	m.start(t)
	return m
}

func (m *mariadb) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(m.bin, m.args...)
	m.proc = testenv.Start(t, cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := m.ping()
		if err == nil {
			return
		}
		if m.proc.Exited() || time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(m.dir, "err.log"))
			t.Fatalf("mariadbd did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restart stops the server by PID and starts it again on the same data,
// port and socket.
func (m *mariadb) restart(t *testing.T) {
	t.Helper()
	m.proc.Stop()
	m.start(t)
}

func (m *mariadb) rootDB() (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User = "unix", m.Socket, "root"
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	cfg.Logger = &mysql.NopLogger{}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func (m *mariadb) ping() error {
	db, err := m.rootDB()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// exec runs statements as root over the socket.
func (m *mariadb) exec(t *testing.T, stmts ...string) {
	t.Helper()
	db, err := m.rootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := db.ExecContext(ctx, s)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// uptime reads the server's uptime as root.
func (m *mariadb) uptime(t *testing.T) int64 {
	t.Helper()
	db, err := m.rootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var name string
	var up int64
	if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &up); err != nil {
		t.Fatal(err)
	}
	return up
}

// waitUptime waits until the server has been up for at least secs.
func (m *mariadb) waitUptime(t *testing.T, secs int64) {
	t.Helper()
	for up := m.uptime(t); up < secs; up = m.uptime(t) {
		time.Sleep(time.Duration(secs-up) * time.Second / 2)
	}
}

// testCerts writes a CA and a server certificate for 127.0.0.1 and
// localhost, signed by it; it returns the file names.
func testCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	ca := testenv.NewCA(t, "check-mysql-uptime test CA")
	certFile, keyFile = ca.ServerCert(t, dir)
	return ca.File, certFile, keyFile
}

func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					<-done
					return
				}
				continue
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); close(done) })
	return l.Addr().String()
}
