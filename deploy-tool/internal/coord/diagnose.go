package coord

import (
	"crypto/tls"
	"net"
	"net/url"
	"strings"
	"time"
)

// diagnose finds why the first endpoint did not answer, since gRPC only
// says its deadline passed: the connection refused, or the TLS handshake
// (an unknown CA, a client certificate refused) failed.
func diagnose(opts Options) string {
	u, err := url.Parse(opts.Endpoints[0])
	if err != nil {
		return ""
	}
	d := &net.Dialer{Timeout: time.Second}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		return "; " + err.Error()
	}
	defer c.Close()
	if u.Scheme != "https" || opts.TLS == nil {
		return ""
	}
	cfg := opts.TLS.Clone()
	cfg.ServerName = u.Hostname()
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(time.Second))
	if err := tc.Handshake(); err != nil {
		return "; TLS: " + err.Error()
	}
	// TLS 1.3 refuses a missing client certificate after the handshake.
	if _, err := tc.Read(make([]byte, 1)); err != nil && strings.Contains(err.Error(), "certificate") {
		return "; TLS: " + err.Error()
	}
	return ""
}
