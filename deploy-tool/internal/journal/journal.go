// Package journal owns the rollout's progress on disk: each server's step,
// the deploy commands started and not seen ending, and the run's id, saved
// atomically after every step so that `rollout --resume` can continue
// after a crash.
package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// Server progress as recorded in the journal.
const (
	StepPending   = "pending"   // not touched yet
	StepDown      = "down"      // marked down (maybe draining)
	StepDeploying = "deploying" // the deploy command started
	StepDeployed  = "deployed"  // the command succeeded; health check next
	StepFailed    = "failed"    // command or health check failed: left down
	StepUp        = "up"        // done
)

// Journal is the rollout's progress on disk, written atomically after every
// step, so that `rollout --resume` can continue after a crash.
type Journal struct {
	Started  time.Time         `json:"started"`
	Holder   string            `json:"holder"`
	Config   string            `json:"config"`
	Servers  []string          `json:"servers"` // addrs in rollout order
	Progress map[string]string `json:"progress"`
	// Commands are the process groups of deploy commands that were started
	// and not seen ending: a killed run leaves them running.
	Commands map[string]int `json:"commands,omitempty"`
	Finished bool           `json:"finished"`
	// RunID names the run to the deploy hosts' coordination: a resumed run
	// keeps it, and so knows the servers it registered as its own.
	RunID string `json:"run_id,omitempty"`

	path string
	mu   sync.Mutex
}

// New starts a journal for the given servers (addresses, in rollout order).
func New(path, holder, config string, servers []string) *Journal {
	j := &Journal{Started: time.Now().UTC(), Holder: holder, Config: config, Progress: map[string]string{}, path: path}
	for _, a := range servers {
		j.Servers = append(j.Servers, a)
		j.Progress[a] = StepPending
	}
	return j
}

// Load reads the journal at path; a missing file gives (nil, nil).
func Load(path string) (*Journal, error) {
	var j Journal
	if err := state.Load(path, &j); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("journal: %w", err)
	}
	if j.Progress == nil {
		j.Progress = map[string]string{}
	}
	j.path = path
	return &j, nil
}

// Set records a server's step and saves the journal.
func (j *Journal) Set(addr, step string) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.Progress[addr] = step
	return j.save()
}

// SetCommand records the process group of a server's running deploy
// command (0 when it has ended) and saves the journal.
func (j *Journal) SetCommand(addr string, pgid int) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.Commands == nil {
		j.Commands = map[string]int{}
	}
	if pgid == 0 {
		delete(j.Commands, addr)
	} else {
		j.Commands[addr] = pgid
	}
	return j.save()
}

// Running lists the recorded commands whose process group still exists.
func (j *Journal) Running() []string {
	var out []string
	for _, a := range j.Servers {
		if pg := j.Commands[a]; pg > 0 && groupAlive(pg) {
			out = append(out, fmt.Sprintf("%s (process group %d)", a, pg))
		}
	}
	return out
}

// Finish marks the rollout complete: the file is removed, since nothing is
// left to resume.
func (j *Journal) Finish() error {
	if j == nil {
		return nil
	}
	j.Finished = true
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Save writes the journal as it is.
func (j *Journal) Save() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.save()
}

func (j *Journal) save() error {
	if err := state.Save(j.path, j); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Counts summarises the journal: how many servers are at each step.
func (j *Journal) Counts() map[string]int {
	m := map[string]int{}
	for _, a := range j.Servers {
		m[j.Progress[a]]++
	}
	return m
}

// groupAlive tells whether a process group has a process that is not a
// zombie: an orphaned command that has ended stays a zombie until its new
// parent reaps it, and some init processes take their time.
func groupAlive(pg int) bool {
	if syscall.Kill(-pg, 0) != nil {
		return false
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return true // no /proc: trust kill
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) >= 3 && fields[2] == strconv.Itoa(pg) && fields[0] != "Z" {
			return true
		}
	}
	return false
}
