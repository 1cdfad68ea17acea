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

var program = cli.Program{
	Summary: "Catches a restarted MySQL or MariaDB server: WARNING or CRITICAL while SHOW GLOBAL STATUS's Uptime is below a threshold.",
	Hints: map[string]string{
		"p":        refusedPassword + "; the port is -P/--port",
		"password": refusedPassword,
	},
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

go-check-plugins' check-mysql uptime lines run unchanged after the word
"uptime", with check-mysql's flags (-p is the port there): see
check-mysql-uptime uptime --help.

Example:
  MYSQL_PWD=... check-mysql-uptime --host 127.0.0.1 --user monitor --warning 600
  MySQL WARNING: up 4m12s (252 s) < warning 600 s, version 10.11.19-MariaDB, 127.0.0.1:3306`,
}

func main() {
	os.Exit(execute(check.New("MySQL", "check-mysql-uptime", version), os.Args[1:], os.Getenv))
}

// execute runs the check on args: go-check-plugins' check-mysql uptime
// flags when the first argument is "uptime", the check's own otherwise.
func execute(c *check.Check, args []string, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "uptime" {
		var g checkMySQLOptions
		return c.Execute(checkMySQLProgram, &g, args[1:], func() check.Result { return run(g.options(), getenv) })
	}
	var o options
	return c.Execute(program, &o, args, func() check.Result { return run(o, getenv) })
}
