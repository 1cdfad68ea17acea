package main

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

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

// onlySkipped reports a file whose certificates were all skipped by
// --skip-root: it is named, but it is not a target with a status.
func (o outcome) onlySkipped() bool { return o.shown == nil && o.err == nil && len(o.skipped) > 0 }

// short is the one-line description of an outcome used in the summary.
func (o outcome) short() string {
	if o.onlySkipped() {
		return o.target + ": " + o.skippedText()
	}
	if o.shown == nil {
		return fmt.Sprintf("%s: %v", o.target, o.err)
	}
	s := fmt.Sprintf("%s: %s %s %s", o.target, o.shown.role, subject(o.shown.cert), o.shown.note)
	if o.err != nil {
		s = fmt.Sprintf("%s: %v; %s %s %s", o.target, o.err, o.shown.role, subject(o.shown.cert), o.shown.note)
	}
	return s
}

// long adds the details that identify the certificate, and names the roots
// --skip-root left out.
func (o outcome) long() string {
	if o.shown == nil {
		return o.short()
	}
	c := o.shown.cert
	s := fmt.Sprintf("%s (NotAfter %s, issuer %s, serial %X; %s checked",
		o.short(), stamp(c.NotAfter), truncate(c.Issuer.String(), 100), c.SerialNumber, plural(o.count, "cert"))
	if len(o.skipped) > 0 {
		s += "; " + o.skippedText()
	}
	return s + ")"
}

// skippedText names each skipped root and what it issued.
func (o outcome) skippedText() string {
	var parts []string
	for _, r := range o.skipped {
		parts = append(parts, fmt.Sprintf("root %s (NotAfter %s, issuer of %s)", subject(r.cert), stamp(r.cert.NotAfter), subject(r.issued)))
	}
	return "skipped by --skip-root: " + strings.Join(parts, ", ")
}

// render builds the message: a summary line, then one line per target, the
// worst first and, within a status, the soonest expiry first, so that what
// matters survives Mackerel's cut at 1024 characters; then the files that
// held only roots skipped by --skip-root.
func render(all []outcome) check.Result {
	var outs, skippedFiles []outcome
	nSkipped := 0
	for _, o := range all {
		nSkipped += len(o.skipped)
		if o.onlySkipped() {
			skippedFiles = append(skippedFiles, o)
		} else {
			outs = append(outs, o)
		}
	}
	sortOutcomes(outs)
	sort.Slice(skippedFiles, func(i, j int) bool { return skippedFiles[i].target < skippedFiles[j].target })
	var sts []check.Status
	counts := map[check.Status]int{}
	for _, o := range outs {
		sts = append(sts, o.status)
		counts[o.status]++
	}
	worst := check.Worst(sts...)
	if len(outs) == 1 && len(skippedFiles) == 0 {
		return check.Result{Status: worst, Message: outs[0].long()}
	}
	var b strings.Builder
	b.WriteString(plural(len(outs), "target"))
	var parts []string
	for _, s := range []check.Status{check.Critical, check.Warning, check.Unknown, check.OK} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], strings.ToLower(s.String())))
		}
	}
	fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	if nSkipped > 0 {
		fmt.Fprintf(&b, ", %s skipped by --skip-root", plural(nSkipped, "root"))
	}
	if len(outs) > 0 {
		fmt.Fprintf(&b, "; first: %s", outs[0].short())
	}
	for _, o := range outs {
		fmt.Fprintf(&b, "\n%s %s", o.status, o.long())
	}
	for _, o := range skippedFiles {
		fmt.Fprintf(&b, "\nSKIPPED %s", o.short())
	}
	return check.Result{Status: worst, Message: b.String()}
}

func sortOutcomes(outs []outcome) {
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
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
