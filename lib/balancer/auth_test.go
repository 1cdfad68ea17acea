package balancer_test

// Basic auth against the real thing: Debian's nginx whose dynamic_upstream
// location (the drop-in's or the C module's) requires auth_basic with an
// htpasswd file, started by balancertest. The password is given both ways
// the driver takes it (Config.Password, and user info in the URL) and must
// never show in an error, whatever fails: a wrong password, nothing
// listening, a server that never answers, a URL that does not parse.

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

const (
	authUser  = "ops"
	rightPass = "Right-s3cret-pw"
	wrongPass = "Wrong-s3cret-pw"
)

// assertNoPassword fails when err shows either password, raw or escaped.
func assertNoPassword(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, pw := range []string{rightPass, wrongPass} {
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), url.QueryEscape(pw)) {
			t.Errorf("%s: the password is in the error: %v", what, err)
		}
	}
}

// authDriver reads the zone at rawURL as authUser with password; with no
// password, the URL's user info (if any) is all there is.
func authDriver(t *testing.T, name, rawURL, password string, timeout time.Duration) balancer.Balancer {
	t.Helper()
	user := authUser
	if password == "" {
		user = ""
	}
	b, err := balancer.New(balancer.Config{Name: name, Driver: balancer.DriverNginx, URL: rawURL,
		Upstreams: []string{balancertest.Zone}, User: user, Password: password, Timeout: balancer.Duration(timeout)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withUserinfo puts user:password into the URL's authority.
func withUserinfo(t *testing.T, rawURL, password string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(authUser, password)
	return u.String()
}

func TestNginxBasicAuthOnRealNginx(t *testing.T) { eachKind(t, testNginxBasicAuthOnRealNginx) }

func testNginxBasicAuthOnRealNginx(t *testing.T, k nginxKind) {
	bs := balancertest.StartBackends(t, 2)
	ng := k.start(t, balancertest.NginxOptions{Backends: balancertest.Addrs(bs),
		APIHtpasswd: authUser + ":{PLAIN}" + rightPass + "\n"})

	// The right password, both ways: the listing, and a change (down, up).
	for how, b := range map[string]balancer.Balancer{
		"Config.Password": authDriver(t, "lb-auth", ng.APIURL, rightPass, 5*time.Second),
		"URL user info":   authDriver(t, "lb-auth", withUserinfo(t, ng.APIURL, rightPass), "", 5*time.Second),
	} {
		servers, err := b.List(ctxT(t))
		if err != nil || len(servers) != 2 {
			t.Fatalf("%s, right password: %v %v", how, servers, err)
		}
		if err := b.Down(ctxT(t), balancertest.Zone, bs[1].Addr); err != nil {
			t.Errorf("%s, right password: down: %v", how, err)
		}
		if err := b.Up(ctxT(t), balancertest.Zone, bs[1].Addr); err != nil {
			t.Errorf("%s, right password: up: %v", how, err)
		}
	}

	// Control: without a password nginx refuses, so the location does
	// require auth and the successes above used the password.
	if _, err := authDriver(t, "lb-none", ng.APIURL, "", 5*time.Second).List(ctxT(t)); err == nil ||
		!strings.Contains(err.Error(), "balancer lb-none upstream backend_zone: not authorised (HTTP 401") ||
		!strings.Contains(err.Error(), "set user and password") {
		t.Errorf("no password: %v", err)
	}

	// A wrong password: a 401 that names the balancer, and never the password.
	for how, b := range map[string]balancer.Balancer{
		"Config.Password": authDriver(t, "lb-wrong", ng.APIURL, wrongPass, 5*time.Second),
		"URL user info":   authDriver(t, "lb-wrong", withUserinfo(t, ng.APIURL, wrongPass), "", 5*time.Second),
	} {
		_, err := b.List(ctxT(t))
		if err == nil || !strings.Contains(err.Error(), "balancer lb-wrong upstream backend_zone: not authorised (HTTP 401") ||
			!strings.Contains(err.Error(), "the user or password given was refused") {
			t.Errorf("%s, wrong password: %v", how, err)
		}
		assertNoPassword(t, how+", wrong password, list", err)
		err = b.Down(ctxT(t), balancertest.Zone, bs[1].Addr)
		assertNoPassword(t, how+", wrong password, down", err)
	}
	if servers, err := authDriver(t, "lb-auth", ng.APIURL, rightPass, 5*time.Second).List(ctxT(t)); err != nil || servers[1].State != balancer.Up {
		t.Errorf("a refused down changed the server: %v %v", servers, err)
	}
}

// Nothing listening, and a server that accepts and never answers: the
// transport's errors carry the URL, never its password.
func TestNginxUnreachableNeverShowsThePassword(t *testing.T) {
	dead := fmt.Sprintf("http://127.0.0.1:%d/dynamic", testenv.FreePort(t))
	stalled := "http://" + silentListener(t) + "/dynamic"
	// The stalled server is waited on for its whole timeout; the refusal
	// comes at once, a generous timeout keeps a busy machine from turning it
	// into a timeout.
	for _, c := range []struct {
		name, url, want string
		timeout         time.Duration
	}{
		{"refused", dead, "connection refused", 10 * time.Second},
		{"stalled", stalled, "deadline exceeded", 500 * time.Millisecond},
	} {
		for how, b := range map[string]balancer.Balancer{
			"Config.Password": authDriver(t, "lb-"+c.name, c.url, rightPass, c.timeout),
			"URL user info":   authDriver(t, "lb-"+c.name, withUserinfo(t, c.url, rightPass), "", c.timeout),
		} {
			_, err := b.List(ctxT(t))
			if err == nil || !strings.Contains(err.Error(), "balancer lb-"+c.name+" upstream backend_zone: ") ||
				!strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %s: %v", c.name, how, err)
			}
			assertNoPassword(t, c.name+", "+how, err)
		}
	}
}

// A URL that is refused before any call still never shows its password.
func TestNginxBadURLNeverShowsThePassword(t *testing.T) {
	for _, raw := range []string{
		"ftp://ops:" + rightPass + "@127.0.0.1/dynamic",
		"http://ops:" + rightPass + "@127.0.0.1:port/dynamic",
		"http://ops:" + rightPass + "@/dynamic",
		"http://ops:" + rightPass + "@127.0.0.1/dyn\x7fmic",
		"http://ops:" + rightPass + "/x@127.0.0.1:1/dynamic",
		"ops:" + rightPass + "@127.0.0.1/dynamic",
	} {
		_, err := balancer.New(balancer.Config{Name: "lb-bad", Driver: balancer.DriverNginx, URL: raw,
			Upstreams: []string{balancertest.Zone}})
		if err == nil || !strings.Contains(err.Error(), "balancer lb-bad: url") {
			t.Errorf("%q: %v", raw, err)
		}
		assertNoPassword(t, fmt.Sprintf("%q", raw), err)
		t.Logf("%v", err)
	}
}

// silentListener accepts TCP connections on loopback and never answers nor
// closes them until the test ends; it returns its address.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return l.Addr().String()
}

// FuzzNginxURLErrorNeverShowsThePassword builds URLs with user info from
// fuzzed parts, also ones that do not parse (a '/', '#', '@' or "://" in
// the password), and asks the driver for them: its error, if any, never
// holds the password. The password is the fuzzed part between two '€', so
// it cannot be found by chance in the driver's own words; one that the
// rest of the URL holds anyway is not judged.
func FuzzNginxURLErrorNeverShowsThePassword(f *testing.F) {
	f.Add("http", "ops", rightPass, "127.0.0.1:port", "/dynamic")
	f.Add("ftp", "ops", rightPass, "127.0.0.1", "/dynamic")
	f.Add("http", "ops", rightPass+"/x", "127.0.0.1:1", "/dynamic")
	f.Add("", "ops", "pw://"+rightPass, "127.0.0.1", "/")
	f.Add("http", "", rightPass+"#", "", "/d\x7f")
	f.Add("http", "ops", "a@b", "127.0.0.1", "/dynamic")
	f.Fuzz(func(t *testing.T, scheme, user, secret, host, path string) {
		password := "€" + secret + "€"
		rest := scheme + "://xxxxx@" + host + path
		if strings.Contains(rest, password) || strings.Contains(fmt.Sprintf("%q", rest), password) {
			return
		}
		raw := user + ":" + password + "@" + host + path
		if scheme != "" {
			raw = scheme + "://" + raw
		}
		_, err := balancer.New(balancer.Config{Name: "lb", Driver: balancer.DriverNginx, URL: raw, Upstreams: []string{"z"}})
		if err != nil && strings.Contains(err.Error(), password) {
			t.Fatalf("%q: the password is in the error: %v", raw, err)
		}
	})
}
