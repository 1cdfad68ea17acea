package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/uptime"
)

const (
	defaultHost = "127.0.0.1"
	defaultPort = 11211
)

// options are the command-line flags. --host and --port have no go-flags
// default so that giving them together with --socket can be refused.
type options struct {
	Host   string `long:"host" short:"H" value-name:"HOST" description:"server to connect to over TCP (default 127.0.0.1)"`
	Port   int    `long:"port" short:"p" value-name:"PORT" description:"TCP port (default 11211)"`
	Socket string `long:"socket" short:"s" value-name:"PATH" description:"connect over this unix socket instead of TCP (memcached -s)"`
	SetGet bool   `long:"set-get" description:"also set a short-lived random key (60 s), read it back and delete it, to prove the cache serves data"`
	check.Common
	uptime.Thresholds
}

// address returns the network and address to dial.
func (o options) address() (network, addr string, err error) {
	if o.Socket != "" {
		if o.Host != "" || o.Port != 0 {
			return "", "", errors.New("give --socket or --host/--port, not both")
		}
		return "unix", o.Socket, nil
	}
	if o.Port < 0 || o.Port > 65535 {
		return "", "", fmt.Errorf("--port %d is out of range", o.Port)
	}
	host, port := o.Host, o.Port
	if host == "" {
		host = defaultHost
	}
	if port == 0 {
		port = defaultPort
	}
	return "tcp", net.JoinHostPort(host, strconv.Itoa(port)), nil
}
