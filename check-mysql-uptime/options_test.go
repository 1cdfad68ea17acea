package main

import (
	"strings"
	"testing"
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
		{options{Port: 70000}, "", "--port 70000 is out of range"},
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
