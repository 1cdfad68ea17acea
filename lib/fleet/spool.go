package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// Spool is a directory of contributions not yet delivered, one file per
// contribution named by its id, written atomically (lib/state): a host's run
// saves its contribution here before it moves its logs' offsets, and a
// delivery (mackerel-plugin-accesslog-push) removes it once Redis has it.
type Spool struct{ Dir string }

// Path is where c is kept.
func (s Spool) Path(c *Contribution) string { return filepath.Join(s.Dir, c.ID+".json") }

// Save writes c, replacing a contribution of the same id.
func (s Spool) Save(c *Contribution) error {
	if err := state.Save(s.Path(c), c); err != nil {
		return fmt.Errorf("fleet spool: %w", err)
	}
	return nil
}

// Remove deletes c's file.
func (s Spool) Remove(c *Contribution) error { return os.Remove(s.Path(c)) }

// Load reads the spool, oldest run first. An unreadable file is set aside
// (renamed *.bad), so that it never blocks the others; the error names it,
// and the contributions read are returned all the same.
func (s Spool) Load() ([]*Contribution, error) {
	names, err := filepath.Glob(filepath.Join(s.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Contribution
	var bad []string
	for _, n := range names {
		var c Contribution
		if err := state.Load(n, &c); err != nil || c.ID+".json" != filepath.Base(n) {
			os.Rename(n, n+".bad")
			bad = append(bad, filepath.Base(n))
			continue
		}
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].At != out[j].At {
			return out[i].At < out[j].At
		}
		return out[i].ID < out[j].ID
	})
	if len(bad) > 0 {
		return out, fmt.Errorf("fleet spool %s: set aside unreadable %v (renamed *.bad)", s.Dir, bad)
	}
	return out, nil
}

// Count is how many contributions the spool holds, and their requests.
func (s Spool) Count() (n int, requests uint64) {
	cs, _ := s.Load()
	for _, c := range cs {
		n++
		requests += c.All.Total
	}
	return n, requests
}
