// check-memcached-uptime is a mackerel-agent check that catches a restarted
// memcached (and with it, a lost cache): WARNING or CRITICAL while its uptime
// is below a threshold. See README.md.
package main

import (
	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

var version = "dev"

var program = cli.Program{
	Summary: "Catches a restarted memcached (and with it, a lost cache): WARNING or CRITICAL while the uptime of its stats reply is below a threshold.",
	Descriptions: map[string]string{
		"error-status": "status when memcached cannot be asked: nothing listening, no answer within --timeout (an answer that is not memcached's is always CRITICAL)",
	},
	Manual: `Statuses:
  OK        uptime at or above both thresholds (and, with --set-get, the key
            read back as set)
  WARNING   uptime below --warning
  CRITICAL  uptime below --critical; an answer that is not a memcached stats
            reply; with --set-get, a failed set or read; nothing listening or
            no answer within --timeout (with the default --error-status)
  UNKNOWN   a bad flag or value

Example:
  check-memcached-uptime --host 127.0.0.1:11211 --warning 600 --set-get
  Memcached WARNING: up 25s (25 s) < warning 600 s, version 1.6.18, curr_connections 1, set/get ok, 127.0.0.1:11211`,
}

func main() {
	var o options
	check.New("Memcached", "check-memcached-uptime", version).Main(program, &o, func() check.Result { return run(o) })
}
