package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxPostBytes bounds one post's text. Slack truncates a message's text
	// beyond 40,000 characters and advises staying under 4,000; a longer
	// report is split into several posts, never cut.
	maxPostBytes = 3800
	// maxSpool bounds the posts kept for later delivery; beyond it, new
	// findings are counted in the held-back summary instead.
	maxSpool = 500
	// maxHeldGroups bounds the messages remembered in the held-back summary.
	maxHeldGroups = 100
	// maxUnlistedKeys bounds the hashes kept to count the other messages
	// held back (8 bytes each, about 20 in the state file).
	maxUnlistedKeys = 5000
	// maxRejected bounds the posts Slack refused as malformed that are kept
	// in the state for a person to look at.
	maxRejected = 20
)

// post is one message waiting for delivery to Slack.
type post struct {
	ID     string    `json:"id"`
	Text   string    `json:"text"`
	Queued time.Time `json:"queued"`
	// Attempts counts the deliveries tried, across runs.
	Attempts int `json:"attempts,omitempty"`
	// LastError is why the last attempt failed.
	LastError string `json:"last_error,omitempty"`
}

// slackState is kept with the log offsets, in one atomically written file.
type slackState struct {
	Spool []post `json:"spool,omitempty"`
	// Queued are the times of the posts queued within the last hour, for
	// --max-posts-per-hour.
	Queued   []time.Time `json:"queued,omitempty"`
	Held     *held       `json:"held,omitempty"`
	Rejected []post      `json:"rejected,omitempty"`
	Seq      int64       `json:"seq"`
}

// queue decides what this run adds to the spool: its report, a summary of
// what was held back, or nothing (the report joins the held-back summary).
// It returns a note for the check's message when something was held.
func (s *slackState) queue(c *config, groups []*group, total int, now time.Time) string {
	var report []string
	if total > 0 {
		report = composeReport(c.host, groups, total, now)
	}
	return s.queueReport(c, report, groups, total, now)
}

// queueReport queues report, the posts of groups, within the post limits:
// what does not fit joins the held-back summary.
func (s *slackState) queueReport(c *config, report []string, groups []*group, total int, now time.Time) string {
	hour := now.Add(-time.Hour)
	recent := s.Queued[:0]
	for _, t := range s.Queued {
		if t.After(hour) {
			recent = append(recent, t)
		}
	}
	s.Queued = recent
	if total == 0 && s.Held == nil {
		return ""
	}
	free := min(c.o.MaxPosts-len(s.Queued), maxSpool-len(s.Spool))
	var texts []string
	switch {
	case s.Held == nil && len(report) <= free:
		texts = report
	case s.Held != nil && len(report)+1 <= free:
		texts = append([]string{composeSummary(c, s.Held, now)}, report...)
		s.Held = nil
	case s.Held != nil && free >= 1:
		s.Held.add(groups, total, now)
		texts = []string{composeSummary(c, s.Held, now)}
		s.Held = nil
	default:
		if s.Held == nil {
			s.Held = &held{}
		}
		s.Held.add(groups, total, now)
		return fmt.Sprintf("Slack: %d errors held back since %s (--max-posts-per-hour %d, %d posts waiting)",
			s.Held.Errors, s.Held.Since.UTC().Format("15:04 MST"), c.o.MaxPosts, len(s.Spool))
	}
	for _, t := range texts {
		s.Seq++
		s.Spool = append(s.Spool, post{ID: fmt.Sprintf("%d", s.Seq), Text: t, Queued: now})
		s.Queued = append(s.Queued, now)
	}
	return ""
}

// slackEscape makes text safe for Slack's mrkdwn: &, < and > are control
// characters there (a "<n>" would read as a link), and a ``` inside a code
// block would end it (a zero-width space goes between two backticks).
func slackEscape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	for strings.Contains(s, "``") {
		s = strings.ReplaceAll(s, "``", "`\u200b`")
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// composeReport writes a run's groups as Slack posts: the host and the run's
// totals, then each group with its count, its message, and its first
// occurrence in full in a code block.
func composeReport(host string, groups []*group, total int, now time.Time) []string {
	head := fmt.Sprintf("[%s] %s in %s (%s, %s)", slackEscape(host), plural(total, "error", "errors"),
		plural(len(groups), "group", "groups"), binaryName, now.UTC().Format("2006-01-02 15:04:05 MST"))
	var pieces []string
	for _, g := range groups {
		// The title is the grouping key, cut if very long; the message
		// itself is in full in the code block.
		title := fmt.Sprintf("*%d×* %s", g.Count, slackEscape(shorten(g.Key, 300)))
		lines := make([]string, 0, len(g.Example)+1)
		for _, l := range g.Example {
			lines = append(lines, slackEscape(l))
		}
		if g.More > 0 {
			lines = append(lines, fmt.Sprintf("… %d more lines", g.More))
		}
		pieces = append(pieces, codeBlockPieces(title, lines, maxPostBytes-len(head)-24)...)
	}
	return pack(head, pieces)
}

// codeBlockPieces renders a title and a code block as pieces of at most
// budget bytes: a block too long for one post goes on in the next, under the
// title again, marked "(continued)".
func codeBlockPieces(title string, lines []string, budget int) []string {
	var pieces []string
	cur := title + "\n```\n"
	body := 0
	for _, l := range lines {
		for _, part := range splitLine(l, budget-len(title)-32) {
			if len(cur)+len(part)+4 > budget && body > 0 {
				pieces = append(pieces, cur+"```")
				cur, body = title+" (continued)\n```\n", 0
			}
			cur += part + "\n"
			body++
		}
	}
	return append(pieces, cur+"```")
}

// shorten cuts s to at most n bytes at a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return splitLine(s, n-len("…"))[0] + "…"
}

// splitLine cuts s into parts of at most n bytes, at rune boundaries.
func splitLine(s string, n int) []string {
	n = max(n, utf8.UTFMax)
	var out []string
	for len(s) > n {
		i := n
		for i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
			i-- // not inside a rune, unless the bytes are no UTF-8 anyway
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return append(out, s)
}

// pack puts pieces into as few posts as fit, each starting with head (and
// "(part i/n)" when there are several).
func pack(head string, pieces []string) []string {
	var bodies []string
	cur := ""
	for _, p := range pieces {
		if cur != "" && len(head)+24+len(cur)+1+len(p) > maxPostBytes {
			bodies = append(bodies, cur)
			cur = ""
		}
		if cur != "" {
			cur += "\n"
		}
		cur += p
	}
	if cur != "" || len(bodies) == 0 {
		bodies = append(bodies, cur)
	}
	out := make([]string, len(bodies))
	for i, b := range bodies {
		h := head
		if len(bodies) > 1 {
			h = fmt.Sprintf("%s (part %d/%d)", head, i+1, len(bodies))
		}
		out[i] = strings.TrimRight(h+"\n"+b, "\n")
	}
	return out
}

// deliverer posts spooled messages to the webhook within the run's deadline.
type deliverer struct {
	url     string // secret
	client  *http.Client
	timeout time.Duration // one attempt
	// reserve is the time kept after the last attempt, to save the state
	// and print the result before the run's deadline.
	reserve time.Duration
	sleep   func(ctx context.Context, d time.Duration) bool
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// outcome of one attempt.
type outcome int

const (
	delivered outcome = iota
	retry             // network error, timeout, 5xx, 429: may work later
	stop              // the webhook is gone or forbidden (403, 404, 410): later posts would fail too
	rejected          // Slack refused this payload (400, 413): retrying cannot help
)

// attempt posts one message once. Its error never contains the URL.
func (d *deliverer) attempt(ctx context.Context, text string) (outcome, time.Duration, error) {
	body, _ := json.Marshal(map[string]string{"text": text})
	limit := d.timeout
	if deadline, ok := ctx.Deadline(); ok {
		// An answer must leave the time to save the state after it.
		limit = min(limit, time.Until(deadline)-d.reserve)
	}
	actx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return stop, 0, errors.New("bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", limit.Round(time.Millisecond))
		}
		return retry, 0, d.scrub(err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 == 2 {
		return delivered, 0, nil
	}
	err = d.scrub(fmt.Errorf("HTTP %d %s", resp.StatusCode, strings.Join(strings.Fields(string(snippet)), " ")))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return retry, time.Duration(max(wait, 1)) * time.Second, err
	case resp.StatusCode >= 500:
		return retry, 0, err
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge:
		return rejected, 0, err
	}
	return stop, 0, err
}

// scrub removes the webhook URL (and its path, the secret part) from an error.
func (d *deliverer) scrub(err error) error {
	msg := err.Error()
	if u, perr := url.Parse(d.url); perr == nil && len(u.Path) > 1 {
		msg = strings.ReplaceAll(msg, u.Path, "/<secret>")
	}
	return errors.New(strings.ReplaceAll(msg, d.url, "<webhook>"))
}

// deliverResult says what became of the spool.
type deliverResult struct {
	sent, rejected int
	lastErr        error
}

// deliver sends the spool in order, retrying within ctx's deadline; a post
// leaves the spool only after Slack answered 2xx (then save is called, so a
// later crash does not send it again) or refused it as malformed. It stops at
// the first post that cannot be delivered, keeping the order.
func (d *deliverer) deliver(ctx context.Context, s *slackState, save func() error) deliverResult {
	var res deliverResult
	backoff := 250 * time.Millisecond
	for len(s.Spool) > 0 {
		deadline, ok := ctx.Deadline()
		if ok && time.Until(deadline) < d.reserve+min(d.timeout, time.Second) {
			if res.lastErr == nil {
				res.lastErr = errors.New("no time left in this run")
			}
			return res
		}
		p := &s.Spool[0]
		p.Attempts++
		out, wait, err := d.attempt(ctx, p.Text)
		switch out {
		case delivered:
			s.Spool = s.Spool[1:]
			res.sent++
			backoff = 250 * time.Millisecond
			if err := save(); err != nil {
				res.lastErr = err
				return res
			}
			continue
		case rejected:
			p.LastError = err.Error()
			s.Rejected = append(s.Rejected, *p)
			if len(s.Rejected) > maxRejected {
				s.Rejected = s.Rejected[len(s.Rejected)-maxRejected:]
			}
			s.Spool = s.Spool[1:]
			res.rejected++
			res.lastErr = err
			if err := save(); err != nil {
				return res
			}
			continue
		case stop:
			p.LastError = err.Error()
			res.lastErr = err
			return res
		}
		p.LastError = err.Error()
		res.lastErr = err
		if wait == 0 {
			wait = backoff
			backoff = min(2*backoff, 4*time.Second)
		}
		if ok && time.Until(deadline)-wait < d.reserve+min(d.timeout, time.Second) {
			return res
		}
		if !d.sleep(ctx, wait) {
			return res
		}
	}
	return res
}
