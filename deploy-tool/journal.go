package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
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
	Finished bool              `json:"finished"`

	path string
	mu   sync.Mutex
}

// NewJournal starts a journal for the given servers.
func NewJournal(path, holder, config string, servers []ServerConfig) *Journal {
	j := &Journal{Started: time.Now().UTC(), Holder: holder, Config: config, Progress: map[string]string{}, path: path}
	for _, s := range servers {
		j.Servers = append(j.Servers, s.Addr)
		j.Progress[s.Addr] = StepPending
	}
	return j
}

// LoadJournal reads the journal at path; a missing file gives (nil, nil).
func LoadJournal(path string) (*Journal, error) {
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
