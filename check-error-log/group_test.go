package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

// readSample runs the check once over a copy of a testdata log from its
// start and returns its findings.
func readSample(t *testing.T, name string, args ...string) (*findings, *config) {
	t.Helper()
	log := filepath.Join(t.TempDir(), name)
	appendFile(t, log, readTestdata(t, name))
	c := newTestConfig(t, nil, append([]string{"--file", log, "--from-start"}, args...)...)
	f, err := c.read(&savedState{Logs: map[string]*tail.State{}}, time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

type wantGroup struct {
	count int
	key   string
	// trace lines the example must hold
	trace []string
}

func checkGroups(t *testing.T, got []*group, want []wantGroup) {
	t.Helper()
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("got %d× %q (%d trace lines)", g.Count, g.Key, len(g.Example)-1)
		}
		t.Fatalf("%d groups, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Count != w.count || g.Key != w.key {
			t.Errorf("group %d: %d× %q\nwant %d× %q", i, g.Count, g.Key, w.count, w.key)
		}
		for _, l := range w.trace {
			if !slices.Contains(g.Example, l) {
				t.Errorf("group %d: example lacks %q:\n%s", i, l, strings.Join(g.Example, "\n"))
			}
		}
	}
}

func TestPHPSample(t *testing.T) {
	f, c := readSample(t, "php_error.log", "--pattern", `PHP (Fatal|Parse) error`)
	checkGroups(t, f.groups, []wantGroup{
		{3, "PHP Fatal error: Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /var/www/app/src/Db/Connection.php:42",
			[]string{"Stack trace:", "#3 {main}", "  thrown in /var/www/app/src/Db/Connection.php on line 42"}},
		{1, "PHP Fatal error: Allowed memory size of 134217728 bytes exhausted (tried to allocate 20480 bytes) in /var/www/app/vendor/monolog/monolog/src/Monolog/Logger.php on line 379", nil},
		// The chained exception ("Next …", after a blank line) stays with its entry.
		{1, "PHP Fatal error: Uncaught Error: Call to a member function getId() on null in /var/www/app/src/Service/PaymentService.php:118",
			[]string{"#2 {main}", "Next RuntimeException: payment 7f3a9c2e-51b4-4d2a-9e0f-3c8b2a1d6e44 failed in /var/www/app/src/Service/PaymentService.php:121"}},
		{1, `PHP Parse error: syntax error, unexpected token "}", expecting ";" in /var/www/app/src/Legacy/report.php on line 7`, nil},
	})
	// The first line of the example keeps the message as written, without
	// the timestamp.
	if got := f.groups[0].Example[0]; got != "PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /var/www/app/src/Db/Connection.php:42" {
		t.Errorf("example head %q", got)
	}
	r := c.result(f, "")
	if r.Status != check.Critical || firstLine(r) != "6 errors in 4 groups on web-1" {
		t.Errorf("result %v %q", r.Status, r.Message)
	}
}

func TestNginxSample(t *testing.T) {
	f, _ := readSample(t, "nginx_error.log", "--pattern", `^\S+ \S+ \[(error|crit|alert|emerg)\]`)
	fpm := `[error] connect() to unix:/run/php/php8.2-fpm.sock failed (11: Resource temporarily unavailable) while connecting to upstream, client: <ip>, server: shop.example.com, request: "GET /cart?<query> HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "shop.example.com"`
	checkGroups(t, f.groups, []wantGroup{
		{2, fpm, nil},
		{2, `[error] upstream timed out (110: Connection timed out) while reading response header from upstream, client: <ip>, server: shop.example.com, request: "GET /search?<query> HTTP/1.1", upstream: "http://<ip>/search?<query>", host: "shop.example.com"`, nil},
		{1, `[error] open() "/var/www/html/favicon.ico" failed (2: No such file or directory), client: <ip>, server: shop.example.com, request: "GET /favicon.ico HTTP/1.1", host: "shop.example.com"`, nil},
		// PHP's message relayed by nginx spans lines; they belong to it.
		{1, `[error] FastCGI sent in stderr: "PHP message: PHP Fatal error: Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /var/www/app/src/Db/Connection.php:42`,
			[]string{"Stack trace:", `  thrown in /var/www/app/src/Db/Connection.php on line 42" while reading response header from upstream, client: 198.51.100.41, server: shop.example.com, request: "POST /checkout HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "shop.example.com"`}},
		{1, `[crit] SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking, client: <ip>, server: <ip>`, nil},
		{1, `[error] connect() to unix:/run/php/php8.2-fpm.sock failed (11: Resource temporarily unavailable) while connecting to upstream, client: <ip>, server: shop.example.com, request: "GET /cart HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "shop.example.com"`, nil},
		{1, `[alert] worker process 812 exited on signal 11 (core dumped)`, nil},
	})
	// "GET /cart" without a query string is another group: the request
	// line differs (--mask can take the request out).
	if f.total != 9 {
		t.Errorf("total %d, want 9", f.total)
	}
}

func TestGoPanicSample(t *testing.T) {
	f, _ := readSample(t, "go_panic.log", "--pattern", `^(panic|fatal error): `)
	checkGroups(t, f.groups, []wantGroup{
		{2, "panic: runtime error: invalid memory address or nil pointer dereference",
			[]string{"[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6f3b2c]", "goroutine 42 [running]:",
				"\t/build/api/orders.go:88 +0x12c", "created by net/http.(*Server).Serve in goroutine 1", "exit status 2"}},
		{1, "fatal error: concurrent map writes",
			[]string{"goroutine 77 [running]:", "example.com/shop/cache.(*Store).Put(...)", "goroutine 1 [IO wait]:", "\t/usr/local/go/src/runtime/netpoll.go:351 +0x85"}},
	})
	// The application's next line is not part of the dump.
	for _, g := range f.groups {
		for _, l := range g.Example {
			if strings.Contains(l, "listening on") || strings.Contains(l, "api: error") {
				t.Errorf("%q swallowed the next log line %q", g.Key, l)
			}
		}
	}
}

// PHP with Xdebug writes its trace as prefixed lines of their own.
func TestPHPXdebugSample(t *testing.T) {
	f, _ := readSample(t, "php_xdebug_error.log", "--pattern", `PHP`, "--exclude", `PHP Warning`)
	checkGroups(t, f.groups, []wantGroup{
		{2, "PHP Fatal error: Uncaught TypeError: strlen(): Argument #1 ($string) must be of type string, array given in /var/www/app/src/Util/Str.php:9",
			[]string{"PHP Stack trace:", "PHP   3. strlen($string = [0 => 'a']) /var/www/app/src/Util/Str.php:9"}},
	})
}

// A pattern that matches trace lines must not count them: only an entry's
// first line is matched.
func TestTraceLinesAreNotEntries(t *testing.T) {
	f, _ := readSample(t, "php_error.log", "--pattern", `Connection`)
	// The heads holding "Connection": three PDOExceptions; never their frames.
	if f.total != 3 || len(f.groups) != 1 {
		t.Errorf("total %d in %d groups, want 3 in 1", f.total, len(f.groups))
	}
}

func TestExclude(t *testing.T) {
	f, _ := readSample(t, "php_error.log", "--pattern", `PHP (Fatal|Parse) error`, "--exclude", `memory size`, "-x", `Parse`)
	if f.total != 4 || len(f.groups) != 2 {
		t.Errorf("total %d in %d groups, want 4 in 2", f.total, len(f.groups))
	}
}

func TestMaxTraceLines(t *testing.T) {
	f, _ := readSample(t, "go_panic.log", "--pattern", `^panic: `, "--max-trace-lines", "3")
	g := f.groups[0]
	if len(g.Example) != 4 || g.More == 0 {
		t.Errorf("example of %d lines, %d more; want head + 3 and the rest counted", len(g.Example), g.More)
	}
}

func TestMaxGroups(t *testing.T) {
	log := filepath.Join(t.TempDir(), "app.log")
	var b strings.Builder
	for i := range 50 {
		b.WriteString(strings.Repeat("x", i) + " ERROR distinct\n")
	}
	appendFile(t, log, b.String())
	c := newTestConfig(t, nil, "-f", log, "-p", "ERROR", "--from-start", "--max-groups", "10")
	f, err := c.read(&savedState{Logs: map[string]*tail.State{}}, time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	last := f.groups[len(f.groups)-1]
	if len(f.groups) != 11 || last.Key != otherKey || last.Count != 40 || f.total != 50 {
		t.Errorf("%d groups, last %d× %q, total %d; want 10 + other with 40, 50", len(f.groups), last.Count, last.Key, f.total)
	}
}
