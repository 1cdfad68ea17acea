package main

import (
	"fmt"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// maxMessage is what Mackerel keeps of a check's output.
const maxMessage = 1024

// result judges the findings and writes the message: the totals, what went
// wrong, then the groups by count, all within Mackerel's 1,024 characters.
func (c *config) result(f *findings, slack string) check.Result {
	st := check.OK
	switch {
	case c.o.Critical > 0 && f.total >= c.o.Critical:
		st = c.status
	case c.o.Warning > 0 && f.total >= c.o.Warning:
		st = check.Warning
	}
	if len(f.problems) > 0 {
		st = check.Worst(st, c.o.ErrStatus())
	}
	head := fmt.Sprintf("%s in %s on %s", plural(f.total, "error", "errors"), plural(len(f.groups), "group", "groups"), c.host)
	if f.total == 0 {
		head = "no errors on " + c.host
	}
	if len(f.problems) > 0 {
		// The status may come from --error-status: the first line says why.
		head += fmt.Sprintf("; %s not read", plural(len(f.problems), "log", "logs"))
	}
	lines := []string{head}
	lines = append(lines, f.problems...)
	if f.skipped > 0 {
		lines = append(lines, fmt.Sprintf("skipped %d bytes of backlog (more than --max-read-bytes %d)", f.skipped, c.o.MaxReadBytes))
	}
	if f.late > 0 {
		lines = append(lines, fmt.Sprintf("skipped the last %d bytes read: not looked at within --timeout %v (lower --max-read-bytes)", f.late, c.o.Timeout.D()))
	}
	if f.overlong > 0 {
		lines = append(lines, fmt.Sprintf("skipped %s longer than --max-line-bytes %d", plural(f.overlong, "line", "lines"), c.o.MaxLineBytes))
	}
	lines = append(lines, f.notes...)
	if slack != "" {
		lines = append(lines, slack)
	}
	// Paths and messages come from the logs and the file system: their
	// control bytes are shown escaped, never passed on.
	for i, l := range lines {
		parts := strings.Split(l, "\n")
		for j, p := range parts {
			parts[j] = printable(p)
		}
		lines[i] = strings.Join(parts, "\n")
	}
	// "ErrorLog CRITICAL: " comes first on the line Mackerel keeps.
	budget := maxMessage - len("ErrorLog CRITICAL: ")
	return check.Result{Status: st, Message: fit(lines, f.groups, budget)}
}

// fit joins the lines and as many "count× message" groups as fit in budget
// bytes, saying how many were left out.
func fit(lines []string, groups []*group, budget int) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	if b.Len() > budget {
		return shorten(b.String(), budget)
	}
	for i, g := range groups {
		key := printable(g.Key)
		line := fmt.Sprintf("\n%d× %s", g.Count, key)
		left := len(groups) - i - 1
		tail := ""
		if left > 0 {
			tail = fmt.Sprintf("\n(%s not shown)", plural(left, "more group", "more groups"))
		}
		if b.Len()+len(line)+len(tail) <= budget {
			b.WriteString(line)
			continue
		}
		// Not even this one fits whole: show what fits of it, then the count
		// of the rest.
		tail = fmt.Sprintf("\n(%s not shown)", plural(len(groups)-i, "more group", "more groups"))
		if room := budget - b.Len() - len(tail) - len(fmt.Sprintf("\n%d× ", g.Count)); room > 40 {
			fmt.Fprintf(&b, "\n%d× %s", g.Count, shorten(key, room))
			left = len(groups) - i - 1
			tail = ""
			if left > 0 {
				tail = fmt.Sprintf("\n(%s not shown)", plural(left, "more group", "more groups"))
			}
		}
		b.WriteString(tail)
		break
	}
	return b.String()
}

// slackLine says what happened with Slack in this run, or "" when nothing
// is worth saying (no webhook, or everything delivered).
func slackLine(c *config, s *slackState, d *deliverResult, heldNote string) string {
	var parts []string
	if heldNote != "" {
		parts = append(parts, heldNote)
	}
	if c.webhook == "" {
		if len(s.Spool) > 0 {
			parts = append(parts, fmt.Sprintf("Slack: %s kept from earlier runs, but no webhook is given", plural(len(s.Spool), "post", "posts")))
		}
		return strings.Join(parts, "\n")
	}
	if d != nil && d.rejected > 0 {
		parts = append(parts, fmt.Sprintf("Slack refused %s as malformed (%v); kept in the state file", plural(d.rejected, "post", "posts"), d.lastErr))
	}
	if len(s.Spool) > 0 {
		why := ""
		if d != nil && d.lastErr != nil {
			why = fmt.Sprintf(" (%v)", d.lastErr)
		}
		parts = append(parts, fmt.Sprintf("Slack: %s not delivered%s, kept for the next run", plural(len(s.Spool), "post", "posts"), why))
	}
	return strings.Join(parts, "\n")
}
