package main

import (
	"bytes"
	"crypto/x509"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// --skip-root skips only what is the root of a chain: a self-signed CA
// certificate that issued another certificate of the same target (the chain
// an endpoint sent, or the certificates of one --file argument: a file, or
// every file of a directory or glob). A self-signed certificate that issued
// nothing there is checked, whatever its CA flag: `openssl req -x509` marks
// a server's own certificate CA:TRUE, and skipping it would silently drop
// the one certificate that expires.

// skippedRoot is a root left out by --skip-root, and what it issued.
type skippedRoot struct {
	cert   *x509.Certificate
	issued *x509.Certificate // one certificate of the target it signed
}

// chainRoots maps each root of a chain among certs (by its DER bytes) to a
// certificate it issued. A child must not be self-signed itself: two
// self-signed certificates with the same name and key (a renewal that kept
// the key) would otherwise be taken for each other's roots.
func chainRoots(certs []*x509.Certificate) map[string]*x509.Certificate {
	roots := map[string]*x509.Certificate{}
	for _, parent := range certs {
		if !parent.IsCA || !selfSigned(parent) {
			continue
		}
		for _, child := range certs {
			if !selfSigned(child) && issuedBy(child, parent) {
				roots[string(parent.Raw)] = child
				break
			}
		}
	}
	return roots
}

// issuedBy compares names and key identifiers rather than checking the
// signature, which Go refuses for old roots signed with SHA-1.
func issuedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) &&
		(len(child.AuthorityKeyId) == 0 || len(parent.SubjectKeyId) == 0 ||
			bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId))
}

// selfSigned compares names and key identifiers, as issuedBy does.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) &&
		(len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId))
}

// role names a certificate's place: what the server sent first is the leaf;
// a self-signed CA that issued another certificate of the target is a root,
// one that issued none is "self-signed" (a server's own certificate, or a
// root file on its own); any other CA is an intermediate.
func role(c *x509.Certificate, index int, fromHost, isRoot bool) string {
	switch {
	case index == 0 && fromHost:
		return "leaf"
	case isRoot:
		return "root"
	case c.IsCA && selfSigned(c):
		return "self-signed"
	case c.IsCA:
		return "intermediate"
	}
	return "leaf"
}

// judgeChain judges every certificate of one target and picks the one to
// report; roots are the roots of a chain in the target's scope (chainRoots).
func (cfg *config) judgeChain(target string, certs []*x509.Certificate, fromHost bool, now time.Time, roots map[string]*x509.Certificate) outcome {
	o := outcome{target: target, status: check.OK}
	for i, c := range certs {
		issued, isRoot := roots[string(c.Raw)]
		r := role(c, i, fromHost, isRoot)
		if r == "root" && cfg.skipRoot {
			o.skipped = append(o.skipped, skippedRoot{cert: c, issued: issued})
			continue
		}
		st, note := judge(c, now, cfg.warn, cfg.crit)
		ci := &certInfo{cert: c, role: r, status: st, note: note}
		o.count++
		if o.shown == nil || check.Worse(st, o.shown.status) ||
			(st == o.shown.status && c.NotAfter.Before(o.shown.cert.NotAfter)) {
			o.shown = ci
		}
	}
	if o.shown != nil {
		o.status = o.shown.status
	}
	return o
}
