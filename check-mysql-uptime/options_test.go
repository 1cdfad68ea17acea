package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

func TestResolve(t *testing.T) {
	env := func(pw string) func(string) string {
		return func(k string) string {
			if k == "MYSQL_PWD" {
				return pw
			}
			return ""
		}
	}
	cases := []struct {
		name              string
		opts              options
		file              string // [client] body; "" for no file
		pwd               string
		net, addr, user   string
		password          string
		tlsNil, plainBack bool
	}{
		{name: "defaults", pwd: "envpw", net: "tcp", addr: "127.0.0.1:3306", user: "root", password: "envpw", plainBack: true},
		{name: "file", file: "user=app\npassword=filepw\nhost=db1\nport=3307\n", pwd: "envpw",
			net: "tcp", addr: "db1:3307", user: "app", password: "filepw", plainBack: true},
		{name: "flags win", opts: options{Host: "db2", Port: 3310, User: "other"}, file: "user=app\npassword=filepw\nhost=db1\nport=3307\n",
			net: "tcp", addr: "db2:3310", user: "other", password: "filepw", plainBack: true},
		{name: "empty file password beats MYSQL_PWD", file: "password=\n", pwd: "envpw", net: "tcp", addr: "127.0.0.1:3306", user: "root", password: "", plainBack: true},
		{name: "bare password does not", file: "password\n", pwd: "envpw", net: "tcp", addr: "127.0.0.1:3306", user: "root", password: "envpw", plainBack: true},
		{name: "file socket", file: "socket=/run/m.sock\n", net: "unix", addr: "/run/m.sock", user: "root", plainBack: true},
		{name: "file socket, host localhost", file: "socket=/run/m.sock\nhost=localhost\n", net: "unix", addr: "/run/m.sock", user: "root", plainBack: true},
		{name: "file socket, other host", file: "socket=/run/m.sock\nhost=db1\n", net: "tcp", addr: "db1:3306", user: "root", plainBack: true},
		{name: "file socket, --port given", opts: options{Port: 3311}, file: "socket=/run/m.sock\n", net: "tcp", addr: "127.0.0.1:3311", user: "root", plainBack: true},
		{name: "--socket beats file host", opts: options{Socket: "/s.sock"}, file: "host=db1\nport=1\n", net: "unix", addr: "/s.sock", user: "root", plainBack: true},
		{name: "ipv6", opts: options{Host: "::1"}, net: "tcp", addr: "[::1]:3306", user: "root", plainBack: true},
		{name: "host:port", opts: options{Host: "db2:3310"}, net: "tcp", addr: "db2:3310", user: "root", plainBack: true},
		{name: "[ipv6]:port", opts: options{Host: "[::1]:3307"}, net: "tcp", addr: "[::1]:3307", user: "root", plainBack: true},
		{name: "[ipv6]", opts: options{Host: "[::1]"}, net: "tcp", addr: "[::1]:3306", user: "root", plainBack: true},
		{name: "tls false", opts: options{TLS: "false"}, net: "tcp", addr: "127.0.0.1:3306", user: "root", tlsNil: true},
		{name: "tls skip-verify", opts: options{TLS: "skip-verify"}, net: "tcp", addr: "127.0.0.1:3306", user: "root"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			if tc.file != "" {
				o.DefaultsExtraFile = writeFile(t, "my.cnf", "[client]\n"+tc.file)
			}
			got, err := o.resolve(env(tc.pwd))
			if err != nil {
				t.Fatal(err)
			}
			if got.Net != tc.net || got.Addr != tc.addr || got.User != tc.user || got.Password != tc.password {
				t.Errorf("got %s %s user %q password %q, want %s %s user %q password %q",
					got.Net, got.Addr, got.User, got.Password, tc.net, tc.addr, tc.user, tc.password)
			}
			if (got.TLS == nil) != tc.tlsNil || got.TLSFallback != tc.plainBack {
				t.Errorf("TLS %v fallback %v", got.TLS, got.TLSFallback)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	cases := []struct {
		opts options
		file string
		want string
	}{
		{options{Socket: "/s", Host: "h"}, "", "give --socket or --host/--port, not both"},
		{options{Port: 70000}, "", "--port 70000: want 1 to 65535"},
		{options{Host: "db:3307", Port: 3308}, "", "--host db:3307 already names a port: give it there or with --port, not both"},
		{options{Host: "db:x"}, "", `--host: bad port in "db:x": want 1 to 65535`},
		{options{}, "port=abc\n", `defaults file: port "abc" is not a TCP port`},
		{options{CAFile: "/nonexistent/ca.pem"}, "", "--ca-file: open /nonexistent/ca.pem: no such file or directory"},
		{options{TLS: "preferred", CAFile: "/ca.pem"}, "", "--ca-file needs --tls=true, not --tls=preferred"},
		{options{}, "password=Secret1\n[client\n", "my.cnf:3: group header without ']'"},
	}
	for _, tc := range cases {
		o := tc.opts
		if tc.file != "" {
			o.DefaultsFile = writeFile(t, "my.cnf", "[client]\n"+tc.file)
		}
		_, err := o.resolve(func(string) string { return "" })
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%+v %q: error %v, want …%q", tc.opts, tc.file, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "Secret1") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	if _, err := (options{CAFile: notPEM}).resolve(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "no PEM certificate found") {
		t.Errorf("non-PEM CA file: %v", err)
	}
}

func TestTLSModeFlag(t *testing.T) {
	var m tlsMode
	for _, ok := range tlsModes {
		if err := m.UnmarshalFlag(ok); err != nil || string(m) != ok {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := m.UnmarshalFlag("required"); err == nil {
		t.Error("required accepted")
	}
}

// A FIFO where a file is expected (given, or reached through !include) is
// refused at once: opening it would wait for a writer past any deadline.
func TestSpecialFilesAreRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.cnf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	include := writeFile(t, "my.cnf", "[client]\n!include "+fifo+"\n")
	for name, o := range map[string]options{
		"--defaults-file": {DefaultsFile: fifo},
		"!include":        {DefaultsFile: include},
		"--ca-file":       {CAFile: fifo},
	} {
		o.Timeout = check.Duration(30 * time.Second)
		done := make(chan string, 1)
		go func() { done <- run(o, func(string) string { return "" }).Message }()
		select {
		case msg := <-done:
			if !strings.Contains(msg, fifo+" is a named pipe (FIFO), not a regular file") {
				t.Errorf("%s: %q", name, msg)
			}
		case <-time.After(2 * time.Minute): // far beyond --timeout: a hang is the bug
			t.Fatalf("%s: still running after 2 minutes", name)
		}
	}
}

func TestRedactCannotRevealThePassword(t *testing.T) {
	cases := []struct{ msg, pw, want string }{
		// Short secrets are not looked for: "root" inside an address would
		// show where the password's letters are.
		{"cannot connect to 127.0.0.1:43209 as root", "1", "cannot connect to 127.0.0.1:43209 as root"},
		{"cannot connect to 127.0.0.1:43209 as root", "root", "cannot connect to 127.0.0.1:43209 as root"},
		// Never inside another word or number.
		{"host db-secret99.example: no such host", "secret99", "host db-secret99.example: no such host"},
		{"error near 'S3cret pw#1' at line 1", "S3cret pw#1", "error near '[password]' at line 1"},
		{"password=Hunter22 rejected; Hunter22", "Hunter22", "password=[password] rejected; [password]"},
		{"no password here", "", "no password here"},
	}
	for _, c := range cases {
		if got := redact(c.msg, c.pw); got != c.want {
			t.Errorf("redact(%q, %q) = %q, want %q", c.msg, c.pw, got, c.want)
		}
	}
}
