package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// defaultPorts are the ports used when --host names none.
var defaultPorts = map[string]string{"": "443", "smtp": "25", "imap": "143", "pop3": "110"}

// fetchChain connects to addr, upgrades with STARTTLS when asked, and returns
// the certificates the server sent, leaf first. It never verifies: verifying
// is the caller's choice, and an expired chain must still be read.
func fetchChain(ctx context.Context, addr, serverName, starttls string) ([]*x509.Certificate, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if starttls != "" {
		if err := startTLS(conn, starttls); err != nil {
			return nil, fmt.Errorf("%s STARTTLS: %w", starttls, err)
		}
	}
	tc := tls.Client(conn, &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // verified separately, after the dates are read
		MinVersion:         tls.VersionTLS10,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		if strings.Contains(err.Error(), "first record does not look like a TLS handshake") {
			return nil, fmt.Errorf("TLS handshake: the server does not speak TLS on this port (%v)", err)
		}
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("the server sent no certificate")
	}
	return certs, nil
}
