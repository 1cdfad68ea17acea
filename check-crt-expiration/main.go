// check-crt-expiration warns before a TLS certificate, or any certificate of
// its chain, expires: on live endpoints (optionally behind STARTTLS) and in
// certificate files, many targets at once.
package main

import (
	"os"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

var version = "dev"

type options struct {
	Hosts    []string `long:"host" short:"H" value-name:"HOST[:PORT]" description:"endpoint to connect to (repeatable); port defaults to 443, or to 25/143/110 with --starttls smtp/imap/pop3"`
	SNI      string   `long:"sni" value-name:"NAME" description:"server name sent in the TLS handshake and checked by --verify (default: each host's name; none for an IP)"`
	Files    []string `long:"file" short:"f" value-name:"PATH" description:"certificate file, directory or glob (repeatable): PEM bundles or DER; keys and other PEM blocks are skipped"`
	StartTLS string   `long:"starttls" value-name:"smtp|imap|pop3" description:"speak this protocol in plain text first and upgrade the connection with STARTTLS (STLS for pop3)"`
	Warning  int      `long:"warning" short:"w" default:"30" value-name:"DAYS" description:"WARNING when a certificate expires in fewer days"`
	Critical int      `long:"critical" short:"c" default:"14" value-name:"DAYS" description:"CRITICAL when a certificate expires in fewer days"`
	SkipRoot bool     `long:"skip-root" description:"ignore self-signed CA certificates (a root the server sends along, or roots in a bundle)"`
	Verify   bool     `long:"verify" description:"also verify each chain against the system roots (or --ca-file) and each host's name; a failure is CRITICAL"`
	CAFile   string   `long:"ca-file" value-name:"PATH" description:"trusted roots for --verify (PEM or DER); implies --verify"`
	check.Common
}

func main() {
	c := check.New("Certificate", "check-crt-expiration", version)
	var o options
	rest := c.ParseFlags(&o, os.Args[1:])
	if len(rest) > 0 {
		c.Exit(check.Resultf(check.Unknown, "unexpected argument %q (targets are given with --host or --file)", rest[0]))
	}
	cfg, err := newConfig(o)
	if err != nil {
		c.Exit(check.Resultf(check.Unknown, "%v", err))
	}
	c.Exit(cfg.run(time.Now))
}
