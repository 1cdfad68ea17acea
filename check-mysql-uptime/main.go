// check-mysql-uptime is a mackerel-agent check that catches a restarted
// MySQL or MariaDB server: WARNING or CRITICAL while its uptime is below a
// threshold. See README.md.
package main

import (
	"os"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

var version = "dev"

const noPasswordFlag = "the password comes from MYSQL_PWD or password= in a --defaults-file, never from the command line (where ps would show it)"

var program = cli.Program{
	Summary: "Catches a restarted MySQL or MariaDB server: WARNING or CRITICAL while SHOW GLOBAL STATUS's Uptime is below a threshold.",
	Hints:   map[string]string{"p": noPasswordFlag, "password": noPasswordFlag},
	Descriptions: map[string]string{
		"error-status": "status when the server cannot be asked: nothing listening, access denied, TLS refused, no answer within --timeout",
	},
	Manual: `Statuses:
  OK        uptime at or above both thresholds
  WARNING   uptime below --warning
  CRITICAL  uptime below --critical; the server could not be asked (with the
            default --error-status)
  UNKNOWN   a bad flag or value; a defaults file or --ca-file that cannot be
            read (a FIFO or device is refused, not read)

Example:
  MYSQL_PWD=... check-mysql-uptime --host 127.0.0.1 --user monitor --warning 600
  MySQL WARNING: up 4m12s (252 s) < warning 600 s, version 10.11.19-MariaDB, 127.0.0.1:3306`,
}

func main() {
	var o options
	check.New("MySQL", "check-mysql-uptime", version).Main(program, &o, func() check.Result { return run(o, os.Getenv) })
}
