package mackerel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	mkc "github.com/mackerelio/mackerel-client-go"
)

// State of a run, for its annotation's title.
type State int

const (
	Running State = iota // the first server went out, the run goes on
	Done                 // every server went back into rotation
	Stopped              // the run stopped early (an alert, a failed check, a signal…)
)

// Result is what an annotation's title and description say about a run.
type Result struct {
	Verb    string // "deploy" (default), "down/up", "wrapper"…
	Version string // the version deployed, may be empty
	Service string
	State   State
	Servers int    // how many servers the run covers
	Batch   int    // the batch it stopped at (Stopped)
	Why     string // why it stopped (Stopped)
	Plan    string // the plan, one line
	Each    []ServerResult
	Notes   []string // e.g. "outside the deploy window: hotfix for #123"
}

// ServerResult is one server's line in the description.
type ServerResult struct {
	Server string
	Result string // "done", "failed: health check", "not started"…
}

const maxWhy = 100 // runes of Why kept in the title

// Title is the annotation's title: "deploy v2 to shop: done, 12 servers",
// "deploy v2 to shop: STOPPED at batch 3: why" or, while the run goes on,
// "deploy v2 to shop: in progress, 12 servers".
func (r Result) Title() string {
	head := r.Verb
	if head == "" {
		head = "deploy"
	}
	if r.Version != "" {
		head += " " + r.Version
	}
	head += " to " + r.Service
	switch r.State {
	case Done:
		return fmt.Sprintf("%s: done, %s", head, plural(r.Servers, "server"))
	case Stopped:
		why := strings.Join(strings.Fields(r.Why), " ")
		if utf8.RuneCountInString(why) > maxWhy {
			why = string([]rune(why)[:maxWhy-1]) + "…"
		}
		if why == "" {
			why = "no reason given"
		}
		return fmt.Sprintf("%s: STOPPED at batch %d: %s", head, r.Batch, why)
	}
	return fmt.Sprintf("%s: in progress, %s", head, plural(r.Servers, "server"))
}

// Description is the plan, each server's result and the notes, one per line.
func (r Result) Description() string {
	var b strings.Builder
	if r.Plan != "" {
		b.WriteString(r.Plan + "\n")
	}
	for _, s := range r.Each {
		fmt.Fprintf(&b, "%s: %s\n", s.Server, s.Result)
	}
	for _, n := range r.Notes {
		b.WriteString(n + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// entry is one annotation on its way to Mackerel, as kept in the pending
// file. Key is the run's mark, written into the description's last line:
// after a create whose answer was lost, the annotation is looked up by it
// before creating it again.
type entry struct {
	Key   string              `json:"key"`
	ID    string              `json:"id,omitempty"`    // known once a create was answered
	Tried bool                `json:"tried,omitempty"` // a create was sent: it may have landed
	PID   int                 `json:"pid,omitempty"`   // the run that owns it, while it runs
	Ann   mkc.GraphAnnotation `json:"annotation"`
}

func markLine(key string) string { return "deploy-tool run " + key }

func newKey() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Start creates the run's annotation when the first server goes out: a
// point at from, titled and described as the caller says (Result.Title and
// Result.Description). It waits at most Options.Timeout; when Mackerel
// does not take it, it warns and keeps it in the pending file, and Finish
// or a later FlushPending posts it. The error is for tests: it has been
// reported already, and a rollout goes on whatever it is.
func (c *Client) Start(ctx context.Context, title, description string, from time.Time) error {
	if c == nil {
		return nil
	}
	key := newKey()
	e := &entry{Key: key, Ann: mkc.GraphAnnotation{
		Service: c.opts.Service, Roles: c.opts.Roles, Title: title,
		Description: withMark(description, key), From: from.Unix(), To: from.Unix(),
	}}
	c.mu.Lock()
	c.run = e
	c.mu.Unlock()
	err := c.send(ctx, e)
	if err != nil {
		e.PID = os.Getpid()
		c.keep(e, "create", err)
	}
	return err
}

// Finish updates the run's annotation when the run ends: the span from
// Start's from to to, with the final title and description. Without a
// Start (no server went out) it does nothing. Like Start, it waits at most
// Options.Timeout and keeps what Mackerel did not take.
func (c *Client) Finish(ctx context.Context, title, description string, to time.Time) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	e := c.run
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	e.Ann.Title, e.Ann.Description = title, withMark(description, e.Key)
	e.Ann.To = max(to.Unix(), e.Ann.From)
	e.PID = 0
	if err := c.send(ctx, e); err != nil {
		c.keep(e, "update", err)
		return err
	}
	if err := c.drop(e.Key); err != nil {
		c.warnf("%v", err)
	}
	return nil
}

func withMark(description, key string) string {
	if description == "" {
		return markLine(key)
	}
	return description + "\n" + markLine(key)
}

// send posts an entry, bounded: a PUT when its ID is known, else, when an
// earlier create may have landed, a look-up by its mark first, else a
// create. So an annotation is never created twice.
func (c *Client) send(ctx context.Context, e *entry) error {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	if e.ID == "" && e.Tried {
		id, err := c.lookup(ctx, e)
		if err != nil {
			return err
		}
		e.ID = id
	}
	if e.ID != "" {
		_, err := c.api.UpdateGraphAnnotationContext(ctx, e.ID, &e.Ann)
		return err
	}
	e.Tried = true
	got, err := c.api.CreateGraphAnnotationContext(ctx, &e.Ann)
	if err != nil {
		if permanent(err) { // refused: it did not land
			e.Tried = false
		}
		return err
	}
	e.ID = got.ID
	return nil
}

// lookup finds the annotation an earlier create of e may have made.
func (c *Client) lookup(ctx context.Context, e *entry) (string, error) {
	list, err := c.api.FindGraphAnnotationsContext(ctx, e.Ann.Service, e.Ann.From, max(e.Ann.To, e.Ann.From))
	if err != nil {
		return "", err
	}
	mark := markLine(e.Key)
	for _, a := range list {
		if strings.HasSuffix(a.Description, mark) {
			return a.ID, nil
		}
	}
	return "", nil
}

// keep saves an entry Mackerel did not take, with one warning line.
func (c *Client) keep(e *entry, what string, err error) {
	if permanent(err) {
		c.warnf("the graph annotation %q was refused (%s); it is dropped", e.Ann.Title, short(err))
		if derr := c.drop(e.Key); derr != nil {
			c.warnf("%v", derr)
		}
		return
	}
	if serr := c.upsert(*e); serr != nil {
		c.warnf("could not %s the graph annotation (%s), nor keep it for later: %v", what, short(err), serr)
		return
	}
	c.warnf("could not %s the graph annotation (%s); kept in %s, posted by the next run or by status", what, short(err), c.pending)
}
