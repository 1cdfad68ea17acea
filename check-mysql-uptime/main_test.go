package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// checkerPassword has characters that need quoting in a my.cnf file.
const checkerPassword = `S3cret pw#1;"x"`

// result is one run of the real binary.
type result struct {
	code    int
	out     string
	elapsed time.Duration
}

// runCheck runs the built binary with args and env (MYSQL_PWD is removed
// from the inherited environment unless given).
func runCheck(t *testing.T, env []string, args ...string) result {
	t.Helper()
	res := testenv.Run(t, testenv.BuildBinary(t, "check-mysql-uptime"), append([]string{"MYSQL_PWD"}, env...), args...)
	r := result{code: res.Code, out: res.Stdout, elapsed: res.Took}
	if strings.Contains(res.Stdout+res.Stderr, checkerPassword) {
		t.Errorf("the password appears in the output of %v:\n%s%s", args, res.Stdout, res.Stderr)
	}
	t.Logf("%v -> exit %d in %v: %s", args, r.code, r.elapsed.Round(time.Millisecond), strings.TrimSpace(r.out))
	return r
}

// expect asserts the exit code and that the first line matches pattern.
func (r result) expect(t *testing.T, code int, pattern string) {
	t.Helper()
	line, _, _ := strings.Cut(r.out, "\n")
	if r.code != code {
		t.Errorf("exit %d, want %d; output %q", r.code, code, r.out)
	}
	if !regexp.MustCompile(pattern).MatchString(line) {
		t.Errorf("output %q does not match %q", line, pattern)
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const versionRE = `10\.11\.\d+-MariaDB\S*`

// TestMariaDB runs every case against one server, started once; the restart
// case comes last.
func TestMariaDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	srv := startMariaDB(t)
	srv.exec(t,
		"CREATE USER 'checker'@'%' IDENTIFIED BY '"+checkerPassword+"'",
		"CREATE USER 'checker'@'localhost' IDENTIFIED BY '"+checkerPassword+"'",
		"CREATE USER 'monitor'@'%' IDENTIFIED BY '"+checkerPassword+"'",
		"CREATE USER 'monitor'@'localhost' IDENTIFIED BY '"+checkerPassword+"'")
	srv.waitUptime(t, 2)
	pwd := []string{"MYSQL_PWD=" + checkerPassword}
	port := strconv.Itoa(srv.Port)
	addr := regexp.QuoteMeta(srv.Addr())
	// A file with the password, quoted since it holds '#' and ';'.
	cnfPassword := `password = "` + strings.ReplaceAll(checkerPassword, `"`, `\"`) + `"` + "\n"

	t.Run("OK", func(t *testing.T) {
		runCheck(t, pwd, "--port", port, "--user", "checker", "--warning", "1", "--critical", "1").
			expect(t, 0, `^MySQL OK: up \d+s \(\d+ s\), version `+versionRE+`, `+addr+`$`)
	})
	t.Run("Warning", func(t *testing.T) {
		runCheck(t, pwd, "--port", port, "--user", "checker", "--warning", "100000").
			expect(t, 1, `^MySQL WARNING: up \d+s \(\d+ s\) < warning 100000 s, version `+versionRE+`, `+addr+`$`)
	})
	t.Run("Critical", func(t *testing.T) {
		runCheck(t, pwd, "-P", port, "-u", "checker", "-w", "100000", "-c", "50000").
			expect(t, 2, `^MySQL CRITICAL: up \d+s \(\d+ s\) < critical 50000 s, version `+versionRE+`, `+addr+`$`)
	})
	t.Run("Socket", func(t *testing.T) {
		runCheck(t, pwd, "--socket", srv.Socket, "--user", "checker", "--warning", "1").
			expect(t, 0, `^MySQL OK: up .*, `+regexp.QuoteMeta(srv.Socket)+`$`)
	})
	t.Run("WrongPassword", func(t *testing.T) {
		runCheck(t, []string{"MYSQL_PWD=not-the-password"}, "--port", port, "--user", "checker").
			expect(t, 2, `^MySQL CRITICAL: cannot connect to `+addr+` as checker: Error 1045 \(28000\): Access denied for user 'checker'@'[^']+' \(using password: YES\)$`)
	})
	t.Run("WrongPasswordErrorStatusUnknown", func(t *testing.T) {
		runCheck(t, []string{"MYSQL_PWD=not-the-password"}, "--port", port, "--user", "checker", "--error-status", "unknown").
			expect(t, 3, `^MySQL UNKNOWN: cannot connect to .* Access denied`)
	})
	t.Run("UnknownUser", func(t *testing.T) {
		runCheck(t, pwd, "--port", port, "--user", "nosuchuser").
			expect(t, 2, `^MySQL CRITICAL: cannot connect to `+addr+` as nosuchuser: Error 1045 \(28000\): Access denied for user 'nosuchuser'@`)
	})
	t.Run("DefaultsExtraFile", func(t *testing.T) {
		cnf := writeFile(t, "my.cnf", "[mysqld]\nuser = mysql\n\n[client]\nuser = checker\n"+cnfPassword+
			"host = 127.0.0.1\nport = "+port+"\n")
		runCheck(t, nil, "--defaults-extra-file", cnf, "--warning", "1").
			expect(t, 0, `^MySQL OK: up .*, version `+versionRE+`, `+addr+`$`)
	})
	t.Run("DefaultsFileSocket", func(t *testing.T) {
		cnf := writeFile(t, "my.cnf", "[client]\nuser=checker\n"+cnfPassword+"socket="+srv.Socket+"\n")
		runCheck(t, nil, "--defaults-file", cnf, "--warning", "1").
			expect(t, 0, `^MySQL OK: up .*, `+regexp.QuoteMeta(srv.Socket)+`$`)
	})
	t.Run("DefaultsExtraFileOverriddenByFlags", func(t *testing.T) {
		// The file names a user that does not exist and a port where nothing
		// listens; the flags given win, the file still gives the password.
		cnf := writeFile(t, "my.cnf", "[client]\nuser = nosuchuser\n"+cnfPassword+
			"port = "+strconv.Itoa(testenv.FreePort(t))+"\nsocket = /nonexistent/mysql.sock\n")
		runCheck(t, nil, "--defaults-extra-file", cnf, "--user", "checker", "--port", port, "--warning", "1").
			expect(t, 0, `^MySQL OK: up .*, `+addr+`$`)
		// Without the flags, the file's values are used, and fail.
		runCheck(t, nil, "--defaults-extra-file", cnf).
			expect(t, 2, `^MySQL CRITICAL: cannot connect to /nonexistent/mysql.sock as nosuchuser: .*no such file or directory`)
	})
	t.Run("DefaultsFilePasswordBeatsMYSQL_PWD", func(t *testing.T) {
		cnf := writeFile(t, "my.cnf", "[client]\n"+cnfPassword)
		runCheck(t, []string{"MYSQL_PWD=not-the-password"}, "--defaults-file", cnf, "--user", "checker", "--port", port, "--warning", "1").
			expect(t, 0, `^MySQL OK: `)
	})
	t.Run("ExtraFileWinsOverDefaultsFile", func(t *testing.T) {
		bad := writeFile(t, "bad.cnf", "[client]\nuser=nosuchuser\npassword=nope\n")
		good := writeFile(t, "good.cnf", "[client]\nuser=checker\n"+cnfPassword)
		runCheck(t, nil, "--defaults-file", bad, "--defaults-extra-file", good, "--port", port, "--warning", "1").
			expect(t, 0, `^MySQL OK: `)
	})
	t.Run("MissingDefaultsFile", func(t *testing.T) {
		runCheck(t, nil, "--defaults-file", "/nonexistent/my.cnf").
			expect(t, 3, `^MySQL UNKNOWN: defaults file: open /nonexistent/my.cnf: no such file or directory$`)
	})
	t.Run("TLSTrueWithoutServerTLS", func(t *testing.T) {
		runCheck(t, pwd, "--port", port, "--user", "checker", "--tls", "true").
			expect(t, 2, `^MySQL CRITICAL: cannot connect to `+addr+` as checker: TLS requested but server does not support TLS$`)
	})
	t.Run("ComingFrom", func(t *testing.T) { testComingFrom(t, srv) })
	t.Run("Restart", func(t *testing.T) {
		srv.waitUptime(t, 4)
		runCheck(t, pwd, "--port", port, "--user", "checker", "--warning", "4").
			expect(t, 0, `^MySQL OK: up \d+s `)
		srv.restart(t)
		runCheck(t, pwd, "--port", port, "--user", "checker", "--warning", "4").
			expect(t, 1, `^MySQL WARNING: up [0-3]s \([0-3] s\) < warning 4 s, version `+versionRE+`, `+addr+`$`)
	})
}

// TestMariaDBRequiresTLS runs against a server started with
// --require-secure-transport and a certificate from a test CA.
func TestMariaDBRequiresTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	caFile, certFile, keyFile := testCerts(t, t.TempDir())
	srv := startMariaDB(t, "--ssl-cert="+certFile, "--ssl-key="+keyFile, "--ssl-ca="+caFile, "--require-secure-transport=ON")
	srv.exec(t, "CREATE USER 'checker'@'%' IDENTIFIED BY '"+checkerPassword+"'")
	pwd := []string{"MYSQL_PWD=" + checkerPassword}
	port := strconv.Itoa(srv.Port)
	addr := regexp.QuoteMeta(srv.Addr())
	cases := []struct {
		name    string
		args    []string
		code    int
		pattern string
	}{
		{"Plaintext", []string{"--tls", "false"}, 2, `^MySQL CRITICAL: cannot connect to ` + addr + ` as checker: Error 1045 \(28000\): Access denied for user 'checker'@'127\.0\.0\.1' \(using password: YES\) \(without TLS: if the server requires it, use --tls\)$`},
		{"PreferredByDefault", nil, 0, `^MySQL OK: up \d+s \(\d+ s\), version ` + versionRE + `, ` + addr + `$`},
		{"SkipVerify", []string{"--tls", "skip-verify"}, 0, `^MySQL OK: `},
		{"VerifiedWithCAFile", []string{"--ca-file", caFile}, 0, `^MySQL OK: `},
		{"VerifiedWithCAFileExplicit", []string{"--tls", "true", "--ca-file", caFile}, 0, `^MySQL OK: `},
		{"UnknownAuthority", []string{"--tls", "true"}, 2, `^MySQL CRITICAL: cannot connect to ` + addr + ` as checker: tls: failed to verify certificate: x509: certificate signed by unknown authority`},
		{"CAFileNeedsVerification", []string{"--tls", "skip-verify", "--ca-file", caFile}, 3, `^MySQL UNKNOWN: --ca-file needs --tls=true, not --tls=skip-verify$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--port", port, "--user", "checker", "--warning", "0"}, tc.args...)
			runCheck(t, pwd, args...).expect(t, tc.code, tc.pattern)
		})
	}
}

func TestNothingListening(t *testing.T) {
	port := testenv.FreePort(t)
	runCheck(t, nil, "--port", strconv.Itoa(port)).
		expect(t, 2, fmt.Sprintf(`^MySQL CRITICAL: cannot connect to 127\.0\.0\.1:%d as root: dial tcp 127\.0\.0\.1:%d: connect: connection refused$`, port, port))
	runCheck(t, nil, "--port", strconv.Itoa(port), "--error-status", "warning").
		expect(t, 1, `^MySQL WARNING: cannot connect to `)
}

// TestSilentServer: a server that accepts connections and never answers
// must not hold the check beyond its timeout (plus a second).
func TestSilentServer(t *testing.T) {
	addr := silentServer(t)
	_, port, _ := strings.Cut(addr, ":")
	r := runCheck(t, nil, "--port", port, "--timeout", "1")
	r.expect(t, 2, `^MySQL CRITICAL: `+regexp.QuoteMeta(addr)+` did not answer within 1s \(connecting and logging in\)$`)
	if r.elapsed > 2*time.Second {
		t.Errorf("took %v with --timeout 1", r.elapsed)
	}
}

func TestBadFlagsAreUnknown(t *testing.T) {
	cases := [][]string{
		{"--no-such-flag"},
		{"--warning", "soon"},
		{"--tls", "maybe"},
		{"--timeout", "-1"},
		{"--error-status", "fatal"},
	}
	for _, args := range cases {
		runCheck(t, nil, args...).expect(t, 3, `^MySQL UNKNOWN: `)
	}
	for want, args := range map[string][]string{
		"unknown flag --no-such-flag (see --help)": {"--no-such-flag"},
		`unknown flag -p: a password on the command line is refused (ps shows it to every user): in mackerel-agent.conf add env = { MYSQL_PWD = "…" } to this check's section, or put password = … in the [client] section of a file given with --defaults-extra-file FILE; the port is -P/--port (see --help)`: {"-p", "secret"},
		"--warning -5: want 0 or more seconds (0 disables) (see --help)":                                               {"--warning", "-5"},
		"give --socket or --host/--port, not both (see --help)":                                                        {"--socket", "/tmp/x.sock", "--port", "3306"},
		`unexpected argument "db1": this command takes flags only (see --help)`:                                        {"db1"},
		"--timeout 0s: want more than 0 (10, 10s, 1500ms) (see --help)":                                                {"--timeout", "0"},
		`--timeout: "NaN" is not a duration: want seconds (10) or a number with a unit (10s, 1500ms, 2m) (see --help)`: {"--timeout", "NaN"},
		`--timeout: "1e11" is too long: at most 8760h (see --help)`:                                                    {"--timeout", "1e11"},
		"--host db:3307 already names a port: give it there or with --port, not both (see --help)":                     {"--host", "db:3307", "--port", "3308"},
	} {
		r := runCheck(t, nil, args...)
		if r.code != 3 || r.out != "MySQL UNKNOWN: "+want+"\n" {
			t.Errorf("%q: exit %d %q, want %q", args, r.code, r.out, want)
		}
	}
	r := runCheck(t, nil, "--help")
	if r.code != 0 || !strings.Contains(r.out, "--defaults-extra-file") || !strings.Contains(r.out, "Statuses:") || !strings.Contains(r.out, "Exit codes") {
		t.Errorf("--help: exit %d\n%s", r.code, r.out)
	}
	r = runCheck(t, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.out, "check-mysql-uptime ") {
		t.Errorf("--version: exit %d %q", r.code, r.out)
	}
}
