package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// result is one run of the real binary.
type result struct {
	code    int
	out     string
	elapsed time.Duration
}

func runCheck(t *testing.T, args ...string) result {
	t.Helper()
	res := testenv.Run(t, testenv.BuildBinary(t, "check-memcached-uptime"), nil, args...)
	r := result{code: res.Code, out: res.Stdout, elapsed: res.Took}
	t.Logf("%v -> exit %d in %v: %s", args, r.code, r.elapsed.Round(time.Millisecond), strings.TrimSpace(r.out))
	return r
}

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

const versionRE = `version 1\.6\.\d+`

// TestMemcached runs the cases against one memcached, started once; the
// restart case comes last.
func TestMemcached(t *testing.T) {
	if testing.Short() {
		t.Skip("starts memcached")
	}
	srv := startMemcached(t, false)
	port := strconv.Itoa(srv.Port)
	addr := regexp.QuoteMeta(srv.Addr())
	srv.waitUptime(t, 3)

	t.Run("OK", func(t *testing.T) {
		runCheck(t, "--port", port, "--warning", "2", "--critical", "1").
			expect(t, 0, `^Memcached OK: up \d+s \(\d+ s\), `+versionRE+`, curr_connections \d+, `+addr+`$`)
	})
	t.Run("HostWithPort", func(t *testing.T) {
		runCheck(t, "--host", srv.Addr(), "--warning", "2", "--critical", "1").
			expect(t, 0, `^Memcached OK: up \d+s \(\d+ s\), `+versionRE+`, curr_connections \d+, `+addr+`$`)
	})
	t.Run("Warning", func(t *testing.T) {
		runCheck(t, "--port", port, "--warning", "100000").
			expect(t, 1, `^Memcached WARNING: up \d+s \(\d+ s\) < warning 100000 s, `+versionRE+`, curr_connections \d+, `+addr+`$`)
	})
	t.Run("Critical", func(t *testing.T) {
		runCheck(t, "-H", "127.0.0.1", "-p", port, "-w", "100000", "-c", "50000").
			expect(t, 2, `^Memcached CRITICAL: up \d+s \(\d+ s\) < critical 50000 s, `+versionRE+`, curr_connections \d+, `+addr+`$`)
	})
	t.Run("SetGet", func(t *testing.T) {
		runCheck(t, "--port", port, "--warning", "1", "--set-get").
			expect(t, 0, `^Memcached OK: up \d+s \(\d+ s\), `+versionRE+`, curr_connections \d+, set/get ok, `+addr+`$`)
	})
	t.Run("ComingFrom", func(t *testing.T) { testComingFrom(t, srv) })
	t.Run("Restart", func(t *testing.T) {
		// memcached starts its clock 2 s before it starts serving.
		srv.waitUptime(t, 5)
		runCheck(t, "--port", port, "--warning", "5").expect(t, 0, `^Memcached OK: `)
		srv.restart(t)
		runCheck(t, "--port", port, "--warning", "5", "--set-get").
			expect(t, 1, `^Memcached WARNING: up [0-4]s \([0-4] s\) < warning 5 s, `+versionRE+`, curr_connections \d+, set/get ok, `+addr+`$`)
	})
}

func TestMemcachedSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts memcached")
	}
	srv := startMemcached(t, true)
	runCheck(t, "--socket", srv.Socket, "--warning", "0", "--set-get").
		expect(t, 0, `^Memcached OK: up \d+s \(\d+ s\), `+versionRE+`, curr_connections \d+, set/get ok, `+regexp.QuoteMeta(srv.Socket)+`$`)
}

// TestNotMemcached: whatever else answers on the port gives a CRITICAL that
// says what came back.
func TestNotMemcached(t *testing.T) {
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	t.Cleanup(httpSrv.Close)
	httpAddr := strings.TrimPrefix(httpSrv.URL, "http://")

	cases := []struct {
		name    string
		addr    string
		pattern string
	}{
		{"HTTP", httpAddr, `an HTTP server answered: "HTTP/1.1 400 Bad Request"$`},
		{"Garbage", fakeServer(t, replyThenClose("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")), `not a memcached reply: "SSH-2.0-OpenSSH_9.2p1 Debian-2"$`},
		{"BinaryGarbage", fakeServer(t, replyThenClose("\x00\x01\xff\xfe garbage without end of line")), `not a memcached reply: "\\x00\\x01\\xff\\xfe garbage without end of line", then the connection was closed$`},
		{"GarbageThenSilence", fakeServer(t, replyThenHold("+OK redis?")), `not a memcached reply: "\+OK redis\?", then nothing more until the deadline$`},
		{"LongLine", fakeServer(t, replyThenClose(strings.Repeat("x", 10000)+"\n")), `not a memcached reply: "x{60}"…$`},
		{"ClosedConnection", fakeServer(t, func(c net.Conn) { c.Close() }), `the connection was closed without a reply to stats$`},
		{"ClosedAfterReading", fakeServer(t, replyThenClose("")), `the connection was closed without a reply to stats$`},
		{"ErrorReply", fakeServer(t, replyThenClose("ERROR\r\n")), `the server answered stats with "ERROR"$`},
		{"StallsMidReply", fakeServer(t, replyThenHold("STAT pid 1\r\nSTAT uptime 5\r\n")), `the stats reply stopped after 2 lines and did not end before the deadline$`},
		{"CutShort", fakeServer(t, replyThenClose("STAT pid 1\r\nSTAT uptime 5\r\n")), `the connection was closed before the end of the stats reply \(after 2 lines\)$`},
		{"NoUptime", fakeServer(t, replyThenClose("STAT pid 1\r\nEND\r\n")), `the stats reply has no uptime$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCheck(t, "--port", portOf(tc.addr), "--timeout", "1")
			r.expect(t, 2, `^Memcached CRITICAL: `+regexp.QuoteMeta(tc.addr)+`: `+tc.pattern)
			if r.elapsed > 2*time.Second {
				t.Errorf("took %v with --timeout 1", r.elapsed)
			}
		})
	}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// TestSilentServer: a server that accepts and never answers must not hold
// the check beyond its timeout plus a second; the status is --error-status.
func TestSilentServer(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		var buf [64]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				return
			}
		}
	})
	r := runCheck(t, "--port", portOf(addr), "--timeout", "1")
	r.expect(t, 2, `^Memcached CRITICAL: `+regexp.QuoteMeta(addr)+` did not answer stats within 1s$`)
	if r.elapsed > 2*time.Second {
		t.Errorf("took %v with --timeout 1", r.elapsed)
	}
	runCheck(t, "--port", portOf(addr), "--timeout", "500ms", "--error-status", "unknown").
		expect(t, 3, `^Memcached UNKNOWN: .* did not answer stats within 500ms$`)
}

// fakeMemcached answers stats like memcached, a set with setReply, and a
// get with getReply (where %s is the key asked for): what a full or broken
// memcached might say.
func fakeMemcached(setReply, getReply string) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			switch fields[0] {
			case "stats":
				c.Write([]byte("STAT pid 1\r\nSTAT uptime 86400\r\nSTAT version 1.6.99-fake\r\nSTAT curr_connections 3\r\nEND\r\n"))
			case "set":
				br.ReadString('\n') // the value
				c.Write([]byte(setReply))
			case "get", "gets":
				c.Write([]byte(strings.ReplaceAll(getReply, "%s", fields[len(fields)-1])))
			case "delete":
				c.Write([]byte("DELETED\r\n"))
			case "quit":
				return
			default:
				c.Write([]byte("ERROR\r\n"))
			}
		}
	}
}

// TestSetGetFailures uses a fake memcached: a real one cannot be made to
// refuse a small set, or lose a key, on demand.
func TestSetGetFailures(t *testing.T) {
	const stored, miss = "STORED\r\n", "END\r\n"
	cases := []struct{ name, set, get, pattern string }{
		{"ServerError", "SERVER_ERROR out of memory storing object\r\n", miss,
			`^Memcached CRITICAL: set/get failed: set: memcache: unexpected response line from "set": "SERVER_ERROR out of memory storing object\\r\\n", up 1d \(86400 s\), version 1\.6\.99-fake, curr_connections 3, 127\.0\.0\.1:\d+$`},
		{"NotStored", "NOT_STORED\r\n", miss, `^Memcached CRITICAL: set/get failed: set: memcache: item not stored, up 1d`},
		{"Miss", stored, miss, `^Memcached CRITICAL: set/get failed: get: the key set a moment ago is missing, up 1d`},
		{"OtherValue", stored, "VALUE %s 0 5\r\nwrong\r\nEND\r\n", `^Memcached CRITICAL: set/get failed: get: read back "wrong", not the value set, up 1d`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, fakeMemcached(tc.set, tc.get))
			runCheck(t, "--port", portOf(addr), "--set-get", "--warning", "0").expect(t, 2, tc.pattern)
		})
	}
}

func TestNothingListening(t *testing.T) {
	port := strconv.Itoa(testenv.FreePort(t))
	runCheck(t, "--port", port).
		expect(t, 2, `^Memcached CRITICAL: cannot connect to 127\.0\.0\.1:`+port+`: dial tcp 127\.0\.0\.1:`+port+`: connect: connection refused$`)
	runCheck(t, "--port", port, "--error-status", "warning").expect(t, 1, `^Memcached WARNING: cannot connect`)
	runCheck(t, "--socket", "/nonexistent/memcached.sock").
		expect(t, 2, `^Memcached CRITICAL: cannot connect to /nonexistent/memcached.sock: dial unix /nonexistent/memcached.sock: connect: no such file or directory$`)
}

func TestBadFlagsAreUnknown(t *testing.T) {
	for _, args := range [][]string{{"--no-such-flag"}, {"--warning", "soon"}, {"--port", "x"}, {"--timeout", "later"}, {"--error-status", "fatal"}} {
		runCheck(t, args...).expect(t, 3, `^Memcached UNKNOWN: `)
	}
	for want, args := range map[string][]string{
		"unknown flag --no-such-flag (see --help)":                                                                     {"--no-such-flag"},
		"--critical -1: want 0 or more seconds (0 disables) (see --help)":                                              {"--critical", "-1"},
		"give --socket or --host/--port, not both (see --help)":                                                        {"--socket", "/tmp/m.sock", "--host", "127.0.0.1"},
		"--port 70000: want 1 to 65535 (see --help)":                                                                   {"--port", "70000"},
		`--port "x": want a whole number (PORT) (see --help)`:                                                          {"--port", "x"},
		"--host 127.0.0.1:21211 already names a port: give it there or with --port, not both (see --help)":             {"--host", "127.0.0.1:21211", "--port", "11211"},
		`unexpected argument "127.0.0.1": this command takes flags only (see --help)`:                                  {"127.0.0.1"},
		"--timeout 0s: want more than 0 (10, 10s, 1500ms) (see --help)":                                                {"--timeout", "0"},
		`--timeout: "inf" is not a duration: want seconds (10) or a number with a unit (10s, 1500ms, 2m) (see --help)`: {"--timeout", "inf"},
		`--timeout: "1e11" is too long: at most 8760h (see --help)`:                                                    {"--timeout", "1e11"},
		"-t 0s: want more than 0 (10, 10s, 1500ms) (see --help)":                                                       {"-t", "0"},
		`-t: "soon" is not a duration: want seconds (10) or a number with a unit (10s, 1500ms, 2m) (see --help)`:       {"-t", "soon"},
	} {
		r := runCheck(t, args...)
		if r.code != 3 || r.out != "Memcached UNKNOWN: "+want+"\n" {
			t.Errorf("%q: exit %d %q, want %q", args, r.code, r.out, want)
		}
	}
	if r := runCheck(t, "--help"); r.code != 0 || !strings.Contains(r.out, "--set-get") {
		t.Errorf("--help: exit %d\n%s", r.code, r.out)
	}
	if r := runCheck(t, "--version"); r.code != 0 || !strings.HasPrefix(r.out, "check-memcached-uptime ") {
		t.Errorf("--version: exit %d %q", r.code, r.out)
	}
}
