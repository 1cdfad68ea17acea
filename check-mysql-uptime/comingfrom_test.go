package main

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
	"github.com/sre-suite/mackerel-plugins/lib/uptime"
)

// testComingFrom runs every line of the README's "Coming from" table against
// srv, where 'monitor' logs in with checkerPassword: the README's ports,
// socket and defaults file become the test server's.
func testComingFrom(t *testing.T, srv *mariadb) {
	port := strconv.Itoa(srv.Port)
	cnf := writeFile(t, "mysql-monitor.cnf", "[client]\nuser = monitor\npassword = \""+
		strings.ReplaceAll(checkerPassword, `"`, `\"`)+"\"\nhost = 127.0.0.1\nport = "+port+"\n")
	local := strings.NewReplacer("3306", port, "/run/mysqld/mysqld.sock", srv.Socket,
		"/etc/mackerel-agent/mysql-monitor.cnf", cnf)
	for _, row := range testenv.ReadmeComingFrom(t, "README.md") {
		t.Run(strings.Join(row.Before, " "), func(t *testing.T) {
			if row.Now[0] != "check-mysql-uptime" {
				t.Fatalf("the new line runs %s", row.Now[0])
			}
			if row.Unchanged() && !slices.Equal(row.Before[1:], row.Now[1:]) && !slices.Equal(row.Before, row.Now) {
				t.Errorf("said unchanged, but %q is not %q", row.Now, row.Before)
			}
			var args []string
			for _, a := range row.Now[1:] {
				args = append(args, local.Replace(a))
			}
			r := runCheck(t, []string{"MYSQL_PWD=" + checkerPassword}, args...)
			if !strings.HasPrefix(r.out, local.Replace(row.Result)) {
				t.Errorf("%q printed %q, the README says %q", args, r.out, row.Result)
			}
			if want := statusOf(t, row.Result); r.code != want {
				t.Errorf("exit %d, want %d", r.code, want)
			}
			if i := slices.Index(row.Now, "-P"); i > 0 && row.Now[i+1] == "secret" && strings.Contains(r.out, "secret") {
				t.Errorf("the password given with -P is shown: %q", r.out)
			}
		})
	}
}

// TestCheckMySQLDialect: after "uptime", check-mysql's flags with their
// meanings there; a password, or a port that may be one, is never shown.
func TestCheckMySQLDialect(t *testing.T) {
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		c := &check.Check{Name: "MySQL", Binary: "check-mysql-uptime", Stdout: &out, Stderr: &out}
		code := execute(c, args, func(string) string { return "" })
		return code, out.String()
	}
	for _, tc := range []struct {
		args     []string
		password bool // refused as a password, with the line to write instead
	}{
		{[]string{"uptime", "-P", "hunter22"}, true}, {[]string{"uptime", "--password", "hunter22"}, true},
		{[]string{"uptime", "--password=hunter22"}, true}, {[]string{"uptime", "-Phunter22"}, true},
		{[]string{"-p", "hunter22"}, true}, {[]string{"-phunter22"}, true}, {[]string{"--password=hunter22"}, true},
		{[]string{"uptime", "-p", "hunter22"}, false}, {[]string{"-P", "hunter22"}, false}, {[]string{"--port", "hunter22"}, false},
	} {
		code, out := run(tc.args...)
		if code != 3 || strings.Count(out, "\n") != 1 || strings.Contains(out, "hunter22") {
			t.Errorf("%q: exit %d %q", tc.args, code, out)
		}
		if tc.password != strings.Contains(out, `add env = { MYSQL_PWD = "…" } to this check's section, or put password = … in the [client] section of a file given with --defaults-extra-file FILE`) {
			t.Errorf("%q: %q", tc.args, out)
		}
	}
	cases := []struct {
		args []string
		want options
	}{
		{[]string{"-H", "db1", "-p", "3307", "-u", "mon", "-w", "5", "-c", "2"},
			options{Host: "db1", Port: 3307, User: "mon", Thresholds: thresholds(5, 2)}},
		{[]string{"-S", "/s.sock", "--tls"}, options{Socket: "/s.sock", TLS: "true", Thresholds: thresholds(300, 0)}},
		{[]string{"--tls", "--tls-skip-verify"}, options{TLS: "skip-verify", Thresholds: thresholds(300, 0)}},
		{[]string{"--tls-root-cert", "ca.pem"}, options{TLS: "true", CAFile: "ca.pem", Thresholds: thresholds(300, 0)}},
	}
	for _, tc := range cases {
		var g checkMySQLOptions
		if _, out := check.New("MySQL", "x", "").Command(checkMySQLProgram).Parse(&g, tc.args); out.Done {
			t.Fatalf("%q: %s", tc.args, out.Stdout)
		}
		got := g.options()
		got.Common = check.Common{}
		if got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.args, got, tc.want)
		}
	}
	// --help lists the thresholds before --version, in both forms.
	for _, args := range [][]string{{"--help"}, {"uptime", "--help"}} {
		code, out := run(args...)
		if w, v := strings.Index(out, "--warning="), strings.Index(out, "--version"); code != 0 || w < 0 || v < w {
			t.Errorf("%q: exit %d, --warning at %d, --version at %d", args, code, w, v)
		}
	}
}

// statusOf is the exit code of a line "MySQL WARNING: …".
func statusOf(t *testing.T, line string) int {
	f := strings.Fields(line)
	for code, name := range []string{"OK:", "WARNING:", "CRITICAL:", "UNKNOWN:"} {
		if len(f) > 1 && f[1] == name {
			return code
		}
	}
	t.Fatalf("no status in %q", line)
	return -1
}

func thresholds(warn, crit int64) uptime.Thresholds {
	return uptime.Thresholds{Warning: warn, Critical: crit}
}
