package main

import (
	"bufio"
	"bytes"
	"encoding/pem"
	"strings"
	"testing"
)

// FuzzParseCertificates feeds PEM, DER and mixtures to the file parser: it
// must never panic, and whatever it returns must be certificates.
func FuzzParseCertificates(f *testing.F) {
	pki := newPKI(f)
	leaf := pki.leaf(f, "fuzz.test", left(30))
	f.Add(append(pemCert(leaf.cert), pemCert(pki.inter.cert)...))
	f.Add(append(pemKey(f, leaf.key), pemCert(leaf.cert)...))
	f.Add(leaf.cert.Raw)
	f.Add(append(append([]byte{}, leaf.cert.Raw...), pki.inter.cert.Raw...))
	f.Add(append(pemCert(leaf.cert), pki.inter.cert.Raw...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := parseCertificates(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
		for _, c := range certs {
			if c == nil || len(c.Raw) == 0 || !bytes.Contains(data, c.Raw) && !bytes.Contains(data, []byte("-----BEGIN")) {
				t.Fatalf("certificate not taken from the input")
			}
		}
	})
}

// FuzzStartTLSReplies plays arbitrary server output to the STARTTLS
// dialogues: they must end (input is finite) without panicking.
func FuzzStartTLSReplies(f *testing.F) {
	f.Add("220 mail ESMTP\r\n250-mail\r\n250 STARTTLS\r\n220 go\r\n")
	f.Add("* OK ready\r\n* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\na2 OK go\r\n")
	f.Add("+OK ready\r\n+OK\r\nSTLS\r\n.\r\n+OK go\r\n")
	f.Add("220-\r\n2\r\n")
	f.Fuzz(func(t *testing.T, script string) {
		send := func(string) error { return nil }
		for _, fn := range []func(*bufio.Reader, func(string) error) error{smtpStartTLS, imapStartTLS, pop3StartTLS} {
			fn(bufio.NewReader(strings.NewReader(script)), send)
		}
	})
}
