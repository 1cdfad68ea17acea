// check-crt-expiration warns before a TLS certificate, or any certificate of
// its chain, expires: on live endpoints (optionally behind STARTTLS) and in
// certificate files, many targets at once.
package main

import (
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

var version = "dev"

type options struct {
	Hosts []string `long:"host" short:"H" value-name:"HOST[:PORT]" description:"endpoint to connect to (repeatable); a host without a port uses --port"`
	Port  int      `long:"port" short:"p" value-name:"PORT" description:"port of every --host that names none (default 443, or 25/143/110 with --starttls smtp/imap/pop3)"`
	SNI   string   `long:"sni" value-name:"NAME" description:"server name sent in the TLS handshake and checked by --verify (default: each host's name; none for an IP)"`
	// ServerName and NoCheckCertificate are check-cert-net's and
	// check-ssl-cert's spellings, so that their lines run unchanged.
	ServerName         string   `long:"servername" value-name:"NAME" description:"the same as --sni (check-cert-net's name for it)"`
	NoCheckCertificate bool     `long:"no-check-certificate" description:"do not verify the chain, which is the default (check-ssl-cert's flag; refused with --verify or --ca-file)"`
	Files              []string `long:"file" short:"f" value-name:"PATH" description:"certificate file, directory or glob (repeatable): PEM bundles or DER; keys and other PEM blocks are skipped"`
	StartTLS           string   `long:"starttls" value-name:"smtp|imap|pop3" description:"speak this protocol in plain text first and upgrade the connection with STARTTLS (STLS for pop3)"`
	Warning            int      `long:"warning" short:"w" default:"30" value-name:"DAYS" description:"WARNING when a certificate expires in fewer days"`
	Critical           int      `long:"critical" short:"c" default:"14" value-name:"DAYS" description:"CRITICAL when a certificate expires in fewer days"`
	SkipRoot           bool     `long:"skip-root" description:"leave out the root of a chain: a self-signed CA certificate that issued another certificate of the same endpoint or --file argument (named in the output); a self-signed certificate that issued none is checked"`
	Verify             bool     `long:"verify" description:"also verify each chain against the system roots (or --ca-file) and each host's name; a failure is CRITICAL"`
	CAFile             string   `long:"ca-file" value-name:"PATH" description:"trusted roots for --verify (PEM or DER); implies --verify"`
	check.Common
}

var program = cli.Program{
	Summary: "Warns before a TLS certificate, or any certificate of its chain, expires: on live endpoints (optionally after STARTTLS) and in certificate files, many targets at once.",
	Descriptions: map[string]string{
		"error-status": "status for a target that cannot be read: no answer within --timeout, connection refused, a failed handshake, an unreadable file (a failed --verify is always CRITICAL)",
	},
	Manual: `Statuses (the worst target wins; each target is listed, worst first):
  OK        every certificate has at least --warning days left
  WARNING   a certificate expires in fewer than --warning days
  CRITICAL  a certificate expires in fewer than --critical days, has expired
            or is not valid yet; --verify failed; a target could not be read
            (with the default --error-status)
  UNKNOWN   a bad flag or value; an unreadable --ca-file
  A target with no result within --timeout is reported as such, and the
  targets that finished keep theirs.

Example:
  check-crt-expiration --host www.example.com --file /etc/nginx/tls/ --warning 30 --critical 14
  check-crt-expiration -H www.example.com -p 8443 -w 30 -c 14    (check-ssl-cert's flags)
  Certificate WARNING: www.example.com:443: leaf CN=www.example.com expires in 20 days < 30 days (NotAfter ..., issuer ..., serial ...; 2 certs checked)`,
}

func main() {
	var o options
	check.New("Certificate", "check-crt-expiration", version).Main(program, &o, func() check.Result {
		cfg, err := newConfig(o)
		if err != nil {
			return check.Resultf(check.Unknown, "%v", err)
		}
		return cfg.run(time.Now)
	})
}
