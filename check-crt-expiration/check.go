package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// config is the validated form of the options.
type config struct {
	hosts    []hostTarget
	files    []string
	starttls string
	warn     int
	crit     int
	skipRoot bool
	verify   bool
	roots    *x509.CertPool // nil: the system roots
	caFile   string
	sni      string
	timeout  time.Duration
	common   check.Common
}

// hostTarget is one --host: the name shown, the address dialled, the SNI sent
// and the name --verify checks the leaf against.
type hostTarget struct {
	name       string
	addr       string
	serverName string
	verifyName string
}

// Validate checks the flags among themselves, at parse time.
func (o *options) Validate() error {
	if len(o.Hosts) == 0 && len(o.Files) == 0 {
		return errors.New("nothing to check: give --host or --file")
	}
	if o.Warning < 0 || o.Critical < 0 {
		return errors.New("--warning and --critical take a number of days >= 0")
	}
	if o.Critical > o.Warning {
		return fmt.Errorf("--critical %d is above --warning %d", o.Critical, o.Warning)
	}
	if _, ok := defaultPorts[o.StartTLS]; !ok {
		return fmt.Errorf("--starttls %q: want smtp, imap or pop3", o.StartTLS)
	}
	for _, h := range o.Hosts {
		if _, _, err := check.SplitHostPort(h, defaultPorts[o.StartTLS]); err != nil {
			return fmt.Errorf("--host: %v", err)
		}
	}
	return nil
}

// newConfig builds the config from valid options; it reads no file (the CA
// file is read under the deadline, in run).
func newConfig(o options) (*config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := o.Common.Validate(); err != nil {
		return nil, err
	}
	cfg := &config{
		files: o.Files, starttls: o.StartTLS, warn: o.Warning, crit: o.Critical,
		skipRoot: o.SkipRoot, verify: o.Verify || o.CAFile != "", sni: o.SNI, caFile: o.CAFile,
		timeout: o.Timeout.D(), common: o.Common,
	}
	for _, h := range o.Hosts {
		host, port, _ := check.SplitHostPort(h, defaultPorts[o.StartTLS])
		t := hostTarget{addr: net.JoinHostPort(host, port), serverName: o.SNI, verifyName: o.SNI}
		t.name = t.addr
		if o.SNI == "" {
			t.verifyName = host
			if net.ParseIP(host) == nil {
				t.serverName = host // no SNI for an IP address, as browsers do
			}
		} else {
			t.name = t.addr + " (SNI " + o.SNI + ")"
		}
		cfg.hosts = append(cfg.hosts, t)
	}
	return cfg, nil
}

// loadRoots reads --ca-file.
func (cfg *config) loadRoots() error {
	if cfg.caFile == "" {
		return nil
	}
	certs, err := readCertFile(cfg.caFile)
	if err != nil {
		return fmt.Errorf("--ca-file %s: %v", cfg.caFile, err)
	}
	cfg.roots = x509.NewCertPool()
	for _, c := range certs {
		cfg.roots.AddCert(c)
	}
	return nil
}

// certInfo is one certificate of a target with its judgement.
type certInfo struct {
	cert   *x509.Certificate
	role   string // leaf, intermediate, root
	status check.Status
	note   string // "expires in 5 days < 14 days", "expired 3 days ago", …
}

// outcome is what was found for one target.
type outcome struct {
	target string
	status check.Status
	err    error     // the target could not be read, or failed --verify
	shown  *certInfo // the certificate reported: worst status, then soonest
	count  int       // certificates judged
}

func (cfg *config) run(now func() time.Time) check.Result {
	onTimeout := func() check.Result {
		return check.Result{Status: cfg.common.ErrStatus(), Message: fmt.Sprintf("no result within --timeout %v", cfg.timeout)}
	}
	return check.Run(cfg.timeout, onTimeout, func(ctx context.Context) check.Result {
		if err := cfg.loadRoots(); err != nil {
			return check.Result{Status: check.Unknown, Message: err.Error()}
		}
		// Targets end a little before the hard deadline so that each can
		// name its own timeout.
		margin := min(cfg.timeout/10, 500*time.Millisecond)
		tctx, cancel := context.WithTimeout(ctx, cfg.timeout-margin)
		defer cancel()
		return render(cfg.collect(tctx, ctx, now))
	})
}

// collect checks every target concurrently, each bounded by ctx. When cutoff
// (a little later than ctx, so that a target that honours ctx can name its
// own timeout) ends first, the targets that finished keep their results and
// each unfinished one is reported as such: an expired certificate is not lost
// to a neighbour stuck in a read that ignores the deadline.
func (cfg *config) collect(ctx, cutoff context.Context, now func() time.Time) []outcome {
	var (
		mu      sync.Mutex
		out     []outcome
		pending = map[string]int{}
		wg      sync.WaitGroup
	)
	start := func(target string) {
		mu.Lock()
		pending[target]++
		mu.Unlock()
	}
	finish := func(target string, found ...outcome) {
		mu.Lock()
		pending[target]--
		out = append(out, found...)
		mu.Unlock()
	}
	for _, h := range cfg.hosts {
		start(h.name)
		wg.Go(func() { finish(h.name, cfg.checkHost(ctx, h, now)) })
	}
	for _, spec := range cfg.files {
		start(spec)
		wg.Go(func() { finish(spec, cfg.checkFileSpec(spec, now)...) })
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-cutoff.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	res := append([]outcome(nil), out...)
	for target, n := range pending {
		if n > 0 {
			res = append(res, cfg.failure(target, fmt.Errorf("no result within --timeout %v", cfg.timeout)))
		}
	}
	return res
}

func (cfg *config) checkHost(ctx context.Context, h hostTarget, now func() time.Time) outcome {
	certs, err := fetchChain(ctx, h.addr, h.serverName, cfg.starttls)
	if err != nil {
		return cfg.failure(h.name, cfg.explain(err))
	}
	o := cfg.judgeChain(h.name, certs, true, now())
	if cfg.verify {
		if err := verifyChain(certs, cfg.roots, h.verifyName, now()); err != nil {
			o.err, o.status = fmt.Errorf("verify failed: %v", err), check.Critical
		}
	}
	return o
}

func (cfg *config) checkFileSpec(spec string, now func() time.Time) []outcome {
	files, err := expandFileSpec(spec)
	if err != nil {
		return []outcome{cfg.failure(spec, err)}
	}
	var out []outcome
	for _, f := range files {
		certs, err := readCertFileHook(f.path)
		if err != nil {
			if f.explicit || !notACertificateFile(err) {
				out = append(out, cfg.failure(f.path, err))
			}
			continue
		}
		o := cfg.judgeChain(f.path, certs, false, now())
		if o.shown == nil && !f.explicit {
			continue // only roots, skipped by --skip-root
		}
		if cfg.verify && !certs[0].IsCA {
			if err := verifyChain(certs, cfg.roots, cfg.sni, now()); err != nil {
				o.err, o.status = fmt.Errorf("verify failed: %v", err), check.Critical
			}
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return []outcome{cfg.failure(spec, errors.New("no certificate in any file"))}
	}
	return out
}

func (cfg *config) failure(target string, err error) outcome {
	return outcome{target: target, status: cfg.common.ErrStatus(), err: err}
}

// explain rewords a timeout so that the message names the limit.
func (cfg *config) explain(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no answer within --timeout %v (%v)", cfg.timeout, err)
	}
	return err
}

// judgeChain judges every certificate and picks the one to report.
func (cfg *config) judgeChain(target string, certs []*x509.Certificate, fromHost bool, now time.Time) outcome {
	o := outcome{target: target, status: check.OK}
	for i, c := range certs {
		r := role(c, i, fromHost)
		if r == "root" && cfg.skipRoot {
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
	if o.shown == nil {
		o.status, o.err = check.Unknown, errors.New("only self-signed roots, all skipped by --skip-root")
		return o
	}
	o.status = o.shown.status
	return o
}

// role names a certificate's place: what the server sent first is the leaf;
// a self-signed CA is a root; any other CA an intermediate.
func role(c *x509.Certificate, index int, fromHost bool) string {
	switch {
	case index == 0 && fromHost:
		return "leaf"
	case c.IsCA && selfSigned(c):
		return "root"
	case c.IsCA:
		return "intermediate"
	}
	return "leaf"
}

// selfSigned compares names and key identifiers rather than checking the
// signature, which Go refuses for old roots signed with SHA-1.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) &&
		(len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId))
}

const day = 24 * time.Hour

// judge counts the time left from now to NotAfter exactly: "fewer than 14
// days" means less than 14×24 hours, so the whole days shown (rounded down)
// are below the threshold exactly when the status says so.
func judge(c *x509.Certificate, now time.Time, warn, crit int) (check.Status, string) {
	left := c.NotAfter.Sub(now)
	switch {
	case now.Before(c.NotBefore):
		return check.Critical, fmt.Sprintf("not valid before %s (in %s)", stamp(c.NotBefore), span(c.NotBefore.Sub(now)))
	case left < 0:
		return check.Critical, fmt.Sprintf("expired %s ago", span(-left))
	case left < time.Duration(crit)*day:
		return check.Critical, fmt.Sprintf("expires in %s < %d days", span(left), crit)
	case left < time.Duration(warn)*day:
		return check.Warning, fmt.Sprintf("expires in %s < %d days", span(left), warn)
	}
	return check.OK, fmt.Sprintf("expires in %s", span(left))
}

// span shows whole days, rounded down, or hours and minutes under a day.
func span(d time.Duration) string {
	switch n := int64(d / day); {
	case n == 1:
		return "1 day"
	case n > 1:
		return fmt.Sprintf("%d days", n)
	}
	d = d.Truncate(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, name string, now time.Time) error {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name, CurrentTime: now})
	return err
}

// worse reports whether a is a more severe status than b, in check.Worst's order.

// subject is the common name when there is one: short enough for a summary.
func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + truncate(c.Subject.CommonName, 80)
	}
	s := c.Subject.String()
	if s == "" {
		s = "(empty subject)"
	}
	return truncate(s, 100)
}

// short is the one-line description of an outcome used in the summary.
func (o outcome) short() string {
	if o.shown == nil {
		return fmt.Sprintf("%s: %v", o.target, o.err)
	}
	s := fmt.Sprintf("%s: %s %s %s", o.target, o.shown.role, subject(o.shown.cert), o.shown.note)
	if o.err != nil {
		s = fmt.Sprintf("%s: %v; %s %s %s", o.target, o.err, o.shown.role, subject(o.shown.cert), o.shown.note)
	}
	return s
}

// long adds the details that identify the certificate.
func (o outcome) long() string {
	if o.shown == nil {
		return o.short()
	}
	c := o.shown.cert
	return fmt.Sprintf("%s (NotAfter %s, issuer %s, serial %X; %s checked)",
		o.short(), stamp(c.NotAfter), truncate(c.Issuer.String(), 100), c.SerialNumber, plural(o.count, "cert"))
}

// render builds the message: a summary line, then one line per target, the
// worst first and, within a status, the soonest expiry first, so that what
// matters survives Mackerel's cut at 1024 characters.
func render(outs []outcome) check.Result {
	sort.SliceStable(outs, func(i, j int) bool {
		a, b := outs[i], outs[j]
		if a.status != b.status {
			return check.Worse(a.status, b.status)
		}
		if (a.shown == nil) != (b.shown == nil) {
			return a.shown == nil
		}
		if a.shown != nil && !a.shown.cert.NotAfter.Equal(b.shown.cert.NotAfter) {
			return a.shown.cert.NotAfter.Before(b.shown.cert.NotAfter)
		}
		return a.target < b.target
	})
	var sts []check.Status
	counts := map[check.Status]int{}
	for _, o := range outs {
		sts = append(sts, o.status)
		counts[o.status]++
	}
	worst := check.Worst(sts...)
	if len(outs) == 1 {
		return check.Result{Status: worst, Message: outs[0].long()}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d targets", len(outs))
	var parts []string
	for _, s := range []check.Status{check.Critical, check.Warning, check.Unknown, check.OK} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], strings.ToLower(s.String())))
		}
	}
	fmt.Fprintf(&b, " (%s); first: %s", strings.Join(parts, ", "), outs[0].short())
	for _, o := range outs {
		fmt.Fprintf(&b, "\n%s %s", o.status, o.long())
	}
	return check.Result{Status: worst, Message: b.String()}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
