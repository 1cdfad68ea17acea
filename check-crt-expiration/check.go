package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
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
	if o.ServerName != "" {
		if o.SNI != "" && o.SNI != o.ServerName {
			return fmt.Errorf("--servername %s and --sni %s differ: give one", o.ServerName, o.SNI)
		}
		o.SNI = o.ServerName
	}
	if o.NoCheckCertificate && (o.Verify || o.CAFile != "") {
		return errors.New("--no-check-certificate contradicts --verify and --ca-file: give one")
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("--port %d: want 1 to 65535", o.Port)
	}
	if o.Port != 0 && len(o.Hosts) == 0 {
		return errors.New("--port applies to --host: give a --host")
	}
	for _, h := range o.Hosts {
		if _, _, err := check.SplitHostPort(h, o.defaultPort()); err != nil {
			return fmt.Errorf("--host: %v", err)
		}
	}
	return nil
}

// defaultPort is the port of a --host that names none: --port, or the
// protocol's.
func (o *options) defaultPort() string {
	if o.Port != 0 {
		return strconv.Itoa(o.Port)
	}
	return defaultPorts[o.StartTLS]
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
		host, port, _ := check.SplitHostPort(h, o.defaultPort())
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
	// skipped are the roots --skip-root left out; a file that held only
	// such roots is named, but has no status of its own.
	skipped []skippedRoot
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
	o := cfg.judgeChain(h.name, certs, true, now(), chainRoots(certs))
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
	type fileCerts struct {
		path  string
		certs []*x509.Certificate
	}
	var (
		out   []outcome
		found []fileCerts
		all   []*x509.Certificate
	)
	for _, f := range files {
		certs, err := readCertFileHook(f.path)
		if err != nil {
			if f.explicit || !notACertificateFile(err) {
				out = append(out, cfg.failure(f.path, err))
			}
			continue
		}
		found = append(found, fileCerts{f.path, certs})
		all = append(all, certs...)
	}
	// A root is the root of a chain when it issued a certificate of any
	// file of this --file argument: root.der beside www.pem in a directory.
	roots := chainRoots(all)
	for _, f := range found {
		o := cfg.judgeChain(f.path, f.certs, false, now(), roots)
		if cfg.verify && o.shown != nil && !f.certs[0].IsCA {
			if err := verifyChain(f.certs, cfg.roots, cfg.sni, now()); err != nil {
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
