package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// maxFileSize bounds what is read from one file: certificate bundles are
// small, and a directory may hold anything.
const maxFileSize = 4 << 20

// Errors for files that hold no certificate at all: in a directory or a glob
// such files (keys, notes) are skipped quietly.
var (
	errNoCertificate = errors.New("no certificate found (neither a PEM CERTIFICATE block nor DER)")
	errEmpty         = errors.New("empty file")
	errTooLarge      = fmt.Errorf("larger than %d bytes: not a certificate file", maxFileSize)
)

func notACertificateFile(err error) bool {
	return errors.Is(err, errNoCertificate) || errors.Is(err, errEmpty) || errors.Is(err, errTooLarge)
}

// parseCertificates reads every certificate in data: all CERTIFICATE blocks of
// a PEM file (other blocks such as keys are skipped), or one or more
// concatenated DER certificates.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return parsePEM(data)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errEmpty
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil || len(certs) == 0 {
		return nil, errNoCertificate
	}
	return certs, nil
}

func parsePEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" && block.Type != "X509 CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errNoCertificate
	}
	return certs, nil
}

// readCertFileHook is readCertFile, replaced by a test with a read that
// ignores the deadline, as one on a hung mount would.
var readCertFileHook = readCertFile

// readCertFile reads and parses one file, refusing files larger than maxFileSize.
// A FIFO or device named explicitly is refused, not read (it could block).
func readCertFile(path string) ([]*x509.Certificate, error) {
	f, _, err := cli.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := cli.ReadAtMost(f, path, maxFileSize)
	if errors.Is(err, cli.ErrTooLarge) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, err
	}
	return parseCertificates(data)
}

// fileTarget is one file found from a --file argument. explicit is false for
// files found in a directory or by a glob, which are skipped quietly when they
// hold no certificate (keys, READMEs next to the certificates); a damaged
// certificate or an unreadable file is reported wherever it was found.
type fileTarget struct {
	path     string
	explicit bool
}

// expandFileSpec turns one --file argument into files: the file itself, the
// regular files of a directory (not recursive), or the matches of a glob.
func expandFileSpec(spec string) ([]fileTarget, error) {
	if strings.ContainsAny(spec, "*?[") {
		matches, err := filepath.Glob(spec)
		if err != nil {
			return nil, fmt.Errorf("bad pattern: %w", err)
		}
		if len(matches) == 0 {
			return nil, errors.New("no file matches")
		}
		var out []fileTarget
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
				out = append(out, fileTarget{path: m})
			}
		}
		if len(out) == 0 {
			return nil, errors.New("no regular file matches")
		}
		return out, nil
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []fileTarget{{path: spec, explicit: true}}, nil
	}
	entries, err := os.ReadDir(spec)
	if err != nil {
		return nil, err
	}
	var out []fileTarget
	for _, e := range entries {
		p := filepath.Join(spec, e.Name())
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			out = append(out, fileTarget{path: p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	if len(out) == 0 {
		return nil, errors.New("directory holds no files")
	}
	return out, nil
}
