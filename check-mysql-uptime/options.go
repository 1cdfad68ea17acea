package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/uptime"
)

const (
	defaultHost = "127.0.0.1"
	defaultPort = 3306
	defaultUser = "root"
)

// options are the command-line flags. Connection flags have no go-flags
// default so that an empty value means "not given": a value from the
// defaults file then applies, and only then the built-in default.
type options struct {
	Host              string   `long:"host" short:"H" value-name:"HOST[:PORT]" description:"server to connect to over TCP, optionally with its port ([IPv6]:PORT) (default 127.0.0.1, or host= from the defaults file)"`
	Port              portFlag `long:"port" short:"P" value-name:"PORT" description:"TCP port (default 3306, or port= from the defaults file)"`
	Socket            string   `long:"socket" short:"S" value-name:"PATH" description:"connect over this unix socket instead of TCP (or socket= from the defaults file)"`
	User              string   `long:"user" short:"u" value-name:"USER" description:"user to connect as (default root, or user= from the defaults file); the password comes from the defaults file or MYSQL_PWD, never from the command line"`
	DefaultsFile      string   `long:"defaults-file" value-name:"FILE" description:"read the [client] section of this my.cnf-style file (user, password, host, port, socket)"`
	DefaultsExtraFile string   `long:"defaults-extra-file" value-name:"FILE" description:"read this my.cnf-style file too, after --defaults-file; its values win"`
	TLS               tlsMode  `long:"tls" value-name:"MODE" description:"TLS: false (never), true (required, certificate verified), skip-verify (required, not verified), preferred (when the server offers it, not verified); default preferred, or true with --ca-file"`
	CAFile            string   `long:"ca-file" value-name:"FILE" description:"PEM CA bundle to verify the server certificate with (implies --tls=true)"`
	uptime.Thresholds
	check.Common
}

// portFlag is a TCP port on the command line. A value that is not a port is
// refused without being shown: -p and -P are the password in one tool and
// the port in another, so a bad port may well be a password.
type portFlag int

// UnmarshalFlag implements go-flags' Unmarshaler.
func (p *portFlag) UnmarshalFlag(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("not a port number (1 to 65535); the value is not shown, since it may be a password (-p is the password for the mysql client, -P for go-check-plugins' check-mysql)")
	}
	*p = portFlag(n)
	return nil
}

// tlsMode is the --tls value, checked when parsed so that a wrong one is a
// flag error (UNKNOWN).
type tlsMode string

var tlsModes = []string{"false", "true", "skip-verify", "preferred"}

// UnmarshalFlag implements go-flags' Unmarshaler.
func (m *tlsMode) UnmarshalFlag(s string) error {
	if !slices.Contains(tlsModes, s) {
		return fmt.Errorf("%q: want %s or %s", s, strings.Join(tlsModes[:len(tlsModes)-1], ", "), tlsModes[len(tlsModes)-1])
	}
	*m = tlsMode(s)
	return nil
}

// target is where and how to connect, with every source merged.
type target struct {
	Net      string // "tcp" or "unix"
	Addr     string // host:port or socket path
	User     string
	Password string
	TLS      *tls.Config
	// TLSFallback allows a plaintext connection when the server offers no TLS.
	TLSFallback bool
}

// resolve merges flags, the defaults files and MYSQL_PWD: a flag given on
// the command line wins, then the files (later ones win), then MYSQL_PWD for
// the password (the precedence MySQL's own clients use), then the defaults.
// MYSQL_PASSWORD, go-check-plugins' variable, comes after MYSQL_PWD.
func (o options) resolve(getenv func(string) string) (target, error) {
	if err := o.Validate(); err != nil {
		return target{}, err
	}
	file := optionValues{}
	for _, f := range []string{o.DefaultsFile, o.DefaultsExtraFile} {
		if f == "" {
			continue
		}
		if err := readOptionFile(f, clientGroup, file); err != nil {
			return target{}, fmt.Errorf("defaults file: %w", err)
		}
	}

	t := target{User: firstSet(o.User, file, "user", defaultUser)}
	switch pw, ok := file.get("password"); {
	case ok:
		t.Password = pw
	case getenv("MYSQL_PWD") != "":
		t.Password = getenv("MYSQL_PWD")
	default:
		t.Password = getenv("MYSQL_PASSWORD") // go-check-plugins' check-mysql reads it
	}

	var err error
	if t.Net, t.Addr, err = o.address(file); err != nil {
		return target{}, err
	}

	if err := o.tlsConfig(&t); err != nil {
		return target{}, err
	}
	return t, nil
}

// Validate checks the connection flags among themselves, at parse time.
func (o *options) Validate() error {
	if o.Socket != "" && (o.Host != "" || o.Port != 0) {
		return errors.New("give --socket or --host/--port, not both")
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("--port %d: want 1 to 65535", o.Port)
	}
	if o.Host != "" {
		_, port, err := check.SplitHostPort(o.Host, "")
		if err != nil {
			return fmt.Errorf("--host: %v", err)
		}
		if port != "" && o.Port != 0 {
			return fmt.Errorf("--host %s already names a port: give it there or with --port, not both", o.Host)
		}
	}
	return nil
}

// address picks TCP or the unix socket. An explicit --socket, or a socket
// from the file with no host (or host=localhost, as the clients read it),
// means the socket; an explicit --host or --port means TCP.
func (o options) address(file optionValues) (string, string, error) {
	if o.Socket != "" {
		return "unix", o.Socket, nil
	}
	fileHost, hasHost := file.get("host")
	if sock, ok := file.get("socket"); ok && sock != "" && o.Host == "" && o.Port == 0 &&
		(!hasHost || fileHost == "" || fileHost == "localhost") {
		return "unix", sock, nil
	}
	host := firstSet(o.Host, file, "host", defaultHost)
	port := int(o.Port)
	if h, p, err := check.SplitHostPort(host, ""); err == nil {
		host = h // unbracketed
		if p != "" && port == 0 {
			port, _ = strconv.Atoi(p) // HOST:PORT in --host or host=
		}
	}
	if port == 0 {
		port = defaultPort
		if p, ok := file.get("port"); ok && p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return "", "", fmt.Errorf("defaults file: port %q is not a TCP port", p)
			}
			port = n
		}
	}
	return "tcp", net.JoinHostPort(host, strconv.Itoa(port)), nil
}

func (o options) tlsConfig(t *target) error {
	mode := string(o.TLS)
	if mode == "" {
		mode = "preferred"
		if o.CAFile != "" {
			mode = "true"
		}
	}
	if o.CAFile != "" && mode != "true" {
		return fmt.Errorf("--ca-file needs --tls=true, not --tls=%s", mode)
	}
	switch mode {
	case "false":
		return nil
	case "skip-verify", "preferred":
		t.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
		t.TLSFallback = mode == "preferred"
		return nil
	}
	t.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if host, _, err := net.SplitHostPort(t.Addr); err == nil {
		t.TLS.ServerName = host
	} else {
		t.TLS.ServerName = "localhost"
	}
	if o.CAFile != "" {
		pem, err := cli.ReadRegular(o.CAFile, maxOptionFileSize)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca-file %s: no PEM certificate found", o.CAFile)
		}
		t.TLS.RootCAs = pool
	}
	return nil
}

// firstSet returns the flag if given, else the file's value, else def.
func firstSet(flag string, file optionValues, key, def string) string {
	if flag != "" {
		return flag
	}
	if v, ok := file.get(key); ok && v != "" {
		return v
	}
	return def
}
