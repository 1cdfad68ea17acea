package mackerel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// pendingFile is the pending file's content.
type pendingFile struct {
	Annotations []entry          `json:"annotations"`
	Parked      map[string]entry `json:"parked,omitempty"` // by name, see Park
}

// lockPending takes the pending file's lock, waiting a little longer than
// one API call for a run or a status that holds it.
func (c *Client) lockPending() (func(), error) {
	deadline := time.Now().Add(c.opts.Timeout + time.Second)
	for {
		unlock, err := state.Lock(c.pending)
		if err == nil || time.Now().After(deadline) {
			return unlock, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// edit changes the pending file under its lock, atomically.
func (c *Client) edit(change func(*pendingFile)) error {
	unlock, err := c.lockPending()
	if err != nil {
		return err
	}
	defer unlock()
	var p pendingFile
	if err := state.Load(c.pending, &p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	before := len(p.Annotations) + len(p.Parked)
	change(&p)
	if before == 0 && len(p.Annotations)+len(p.Parked) == 0 {
		return nil // nothing was there, nothing to write
	}
	return state.Save(c.pending, &p)
}

func (c *Client) upsert(e entry) error {
	return c.edit(func(p *pendingFile) {
		if i := slices.IndexFunc(p.Annotations, func(x entry) bool { return x.Key == e.Key }); i >= 0 {
			p.Annotations[i] = e
			return
		}
		p.Annotations = append(p.Annotations, e)
	})
}

func (c *Client) drop(key string) error {
	return c.edit(func(p *pendingFile) {
		p.Annotations = slices.DeleteFunc(p.Annotations, func(x entry) bool { return x.Key == key })
	})
}

// FlushPending posts the annotations earlier runs could not post, each once,
// and says how many it posted. It skips those of a run still going on (that
// run's Finish posts them) and stops at the first failure, so a Mackerel
// that is down costs one bounded call; what is left stays for next time.
// It holds the pending file's lock throughout, so two runs never post the
// same annotation. Failures are warned about; the error is for tests.
func (c *Client) FlushPending(ctx context.Context) (int, error) {
	if c == nil {
		return 0, nil
	}
	unlock, err := c.lockPending()
	if err != nil {
		c.warnf("pending annotations not posted: %v", err)
		return 0, err
	}
	defer unlock()
	var p pendingFile
	if err := state.Load(c.pending, &p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		c.warnf("pending annotations not posted: %v", err)
		return 0, err
	}
	posted, left, sendErr := c.flush(ctx, p.Annotations)
	if posted > 0 || len(left) != len(p.Annotations) {
		p.Annotations = left
		if err := state.Save(c.pending, &p); err != nil {
			// Posted but not forgotten: the next flush finds them by
			// their ID or their mark and updates them, never twice.
			c.warnf("%v", err)
		}
	}
	if sendErr != nil {
		c.warnf("%d graph annotation(s) still pending in %s (%s)", len(left), c.pending, short(sendErr))
	}
	return posted, sendErr
}

func (c *Client) flush(ctx context.Context, all []entry) (posted int, left []entry, err error) {
	for i, e := range all {
		if e.PID != 0 && running(e.PID) {
			left = append(left, e)
			continue
		}
		e.PID = 0
		if err := c.send(ctx, &e); err != nil {
			if permanent(err) {
				c.warnf("the pending graph annotation %q was refused (%s); it is dropped", e.Ann.Title, short(err))
				continue
			}
			left = append(left, e)
			return posted, append(left, all[i+1:]...), err
		}
		posted++
	}
	return posted, left, nil
}

// running reports whether the process pid (another run's) is alive.
func running(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Pending says how many annotations wait in the pending file, for status.
func (c *Client) Pending() (int, error) {
	if c == nil {
		return 0, nil
	}
	var p pendingFile
	if err := state.Load(c.pending, &p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("mackerel: %w", err)
	}
	return len(p.Annotations), nil
}

// Park hands the run's annotation on to a later process, for `down` whose
// `up` comes later: Unpark(name) in that process takes it back and its
// Finish spans both. name says which (the server's address). The entry
// keeps what Start knew (its ID, or that a create was sent), so the later
// Finish updates it, never creates it twice.
func (c *Client) Park(name string) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	e := c.run
	c.run = nil
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	e.PID = 0
	err := c.edit(func(p *pendingFile) {
		if p.Parked == nil {
			p.Parked = map[string]entry{}
		}
		p.Parked[name] = *e
		// Not pending any more: the later Finish posts it.
		p.Annotations = slices.DeleteFunc(p.Annotations, func(x entry) bool { return x.Key == e.Key })
	})
	if err != nil {
		c.warnf("the graph annotation cannot be kept for the later up: %v", err)
	}
	return err
}

// Unpark takes back the annotation Park(name) handed on, as this run's:
// Finish then updates it. It says whether there was one.
func (c *Client) Unpark(name string) (bool, error) {
	if c == nil {
		return false, nil
	}
	var e entry
	var found bool
	err := c.edit(func(p *pendingFile) {
		e, found = p.Parked[name]
		delete(p.Parked, name)
	})
	if err != nil {
		c.warnf("the graph annotation of the earlier down cannot be read: %v", err)
		return false, err
	}
	if found {
		c.mu.Lock()
		c.run = &e
		c.mu.Unlock()
	}
	return found, nil
}
