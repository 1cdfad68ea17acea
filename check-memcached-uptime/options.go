package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/uptime"
)

const (
	defaultHost = "127.0.0.1"
	defaultPort = 11211
)

// options are the command-line flags. --host and --port have no go-flags
// default so that giving them together with --socket can be refused.
type options struct {
	Host   string `long:"host" short:"H" value-name:"HOST[:PORT]" description:"server to connect to over TCP, optionally with its port ([IPv6]:PORT); default 127.0.0.1"`
	Port   int    `long:"port" short:"p" value-name:"PORT" description:"TCP port (default 11211)"`
	Socket string `long:"socket" short:"s" value-name:"PATH" description:"connect over this unix socket instead of TCP (memcached -s)"`
	SetGet bool   `long:"set-get" description:"also set a short-lived random key (60 s), read it back and delete it, to prove the cache serves data"`
	// T is kazeburo's check-memcached-uptime's -t, so that its lines run.
	T shortTimeout `short:"t" value-name:"SECONDS" description:"the same as --timeout (kazeburo's check-memcached-uptime spelled it -t); it wins over --timeout"`
	uptime.Thresholds
	check.Common
}

// shortTimeout is -t: a duration, and whether it was given.
type shortTimeout struct {
	d   cli.Duration
	set bool
}

// UnmarshalFlag implements go-flags' Unmarshaler.
func (s *shortTimeout) UnmarshalFlag(v string) error {
	if err := s.d.UnmarshalFlag(v); err != nil {
		return err
	}
	s.set = true
	return nil
}

// Validate checks the connection flags among themselves, and makes -t the
// timeout, at parse time.
func (o *options) Validate() error {
	if o.T.set {
		if o.T.d <= 0 {
			return fmt.Errorf("-t %s: want more than 0 (10, 10s, 1500ms)", o.T.d)
		}
		o.Timeout = o.T.d
	}
	_, _, err := o.address()
	return err
}

// address returns the network and address to dial. --host takes HOST,
// HOST:PORT, [IPv6]:PORT or a bare IPv6 address, like the other checks.
func (o options) address() (network, addr string, err error) {
	if o.Socket != "" {
		if o.Host != "" || o.Port != 0 {
			return "", "", errors.New("give --socket or --host/--port, not both")
		}
		return "unix", o.Socket, nil
	}
	if o.Port < 0 || o.Port > 65535 {
		return "", "", fmt.Errorf("--port %d: want 1 to 65535", o.Port)
	}
	host, port := defaultHost, ""
	if o.Host != "" {
		if host, port, err = check.SplitHostPort(o.Host, ""); err != nil {
			return "", "", fmt.Errorf("--host: %v", err)
		}
		if port != "" && o.Port != 0 {
			return "", "", fmt.Errorf("--host %s already names a port: give it there or with --port, not both", o.Host)
		}
	}
	switch {
	case o.Port != 0:
		port = strconv.Itoa(o.Port)
	case port == "":
		port = strconv.Itoa(defaultPort)
	}
	return "tcp", net.JoinHostPort(host, port), nil
}
