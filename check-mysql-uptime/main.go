// check-mysql-uptime is a mackerel-agent check that catches a restarted
// MySQL or MariaDB server: WARNING or CRITICAL while its uptime is below a
// threshold. See README.md.
package main

import (
	"os"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

var version = "dev"

func main() {
	c := check.New("MySQL", "check-mysql-uptime", version)
	var o options
	c.ParseFlags(&o, os.Args[1:])
	c.Exit(run(o, os.Getenv))
}
