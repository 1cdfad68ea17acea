package main

import (
	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/uptime"
)

// checkMySQLOptions are go-check-plugins' `check-mysql uptime` flags, read
// when the first argument is "uptime", with the meanings they have there:
// -p is the port, and -P/--password the password, which is refused. The
// defaults files are accepted too, since the refusal points to them.
type checkMySQLOptions struct {
	Host              string   `long:"host" short:"H" value-name:"HOST[:PORT]" description:"server to connect to over TCP (default 127.0.0.1, or host= from the defaults file)"`
	Port              portFlag `long:"port" short:"p" value-name:"PORT" description:"TCP port, -p as in check-mysql (default 3306, or port= from the defaults file)"`
	Socket            string   `long:"socket" short:"S" value-name:"PATH" description:"connect over this unix socket instead of TCP"`
	User              string   `long:"user" short:"u" value-name:"USER" description:"user to connect as (default root, or user= from the defaults file); the password comes from MYSQL_PWD, MYSQL_PASSWORD or the defaults file, never from the command line"`
	TLS               bool     `long:"tls" description:"require TLS and verify the certificate (check-mysql's --tls; without it, TLS when the server offers it)"`
	TLSRootCert       string   `long:"tls-root-cert" value-name:"FILE" description:"PEM CA bundle to verify the server certificate with (implies --tls)"`
	TLSSkipVerify     bool     `long:"tls-skip-verify" description:"with --tls, do not verify the certificate"`
	DefaultsFile      string   `long:"defaults-file" value-name:"FILE" description:"read the [client] section of this my.cnf-style file (user, password, host, port, socket)"`
	DefaultsExtraFile string   `long:"defaults-extra-file" value-name:"FILE" description:"read this my.cnf-style file too, after --defaults-file; its values win"`
	uptime.Thresholds
	check.Common
}

// options translates check-mysql's flags into the check's own.
func (g checkMySQLOptions) options() options {
	o := options{Host: g.Host, Port: g.Port, Socket: g.Socket, User: g.User,
		DefaultsFile: g.DefaultsFile, DefaultsExtraFile: g.DefaultsExtraFile,
		Thresholds: g.Thresholds, Common: g.Common}
	switch {
	case g.TLS && g.TLSSkipVerify:
		o.TLS = "skip-verify"
	case g.TLSRootCert != "":
		o.TLS, o.CAFile = "true", g.TLSRootCert
	case g.TLS:
		o.TLS = "true"
	}
	return o
}

// Validate checks the connection flags among themselves, at parse time.
func (g *checkMySQLOptions) Validate() error {
	o := g.options()
	return o.Validate()
}

// refusedPassword is what -p (the mysql client's) and -P (check-mysql's)
// answer: the one line to write in mackerel-agent.conf instead.
const refusedPassword = `a password on the command line is refused (ps shows it to every user): ` +
	`in mackerel-agent.conf add env = { MYSQL_PWD = "…" } to this check's section, ` +
	`or put password = … in the [client] section of a file given with --defaults-extra-file FILE`

var checkMySQLProgram = cli.Program{
	Name: "check-mysql-uptime uptime",
	Summary: "go-check-plugins' `check-mysql uptime` command lines, read as check-mysql read them (-p is the port; -P/--password, the password, is refused), " +
		"checked as check-mysql-uptime checks: WARNING or CRITICAL while the server's uptime is below a threshold.",
	Hints: map[string]string{
		"P":        refusedPassword + " (MYSQL_PASSWORD, which check-mysql read, works too)",
		"password": refusedPassword + " (MYSQL_PASSWORD, which check-mysql read, works too)",
	},
	Descriptions: program.Descriptions,
	Manual: `Statuses: as check-mysql-uptime without "uptime" (see check-mysql-uptime --help).
  A server that cannot be asked is CRITICAL (check-mysql said UNKNOWN: add
  --error-status unknown to keep that), and --warning defaults to 300 s
  (check-mysql's to 0: add -w 0 to keep that).

Example:
  check-mysql-uptime uptime -H 127.0.0.1 -p 3306 -u monitor -w 600 -c 120
  MySQL WARNING: up 4m12s (252 s) < warning 600 s, version 10.11.19-MariaDB, 127.0.0.1:3306`,
}
