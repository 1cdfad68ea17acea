package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// ledger is what this aggregator handed over, kept in --state-dir where no
// Redis restart can erase it: a window handed over before is never handed
// over again with other values, whatever Redis lost or got back in between.
// It also keeps the service's generation seen last, so that a Redis that
// lost the service's data is named once.
type ledger struct {
	path   string
	Gen    int64                  `json:"gen"`
	Posted map[string]ledgerEntry `json:"posted"` // by window ("START+LEN")
}

// ledgerEntry is one window handed over.
type ledgerEntry struct {
	Sum      string `json:"sum"` // sha256 of the metric lines, in name order
	Requests uint64 `json:"requests"`
	Hosts    int    `json:"hosts"`
	At       int64  `json:"at"` // when (Unix seconds)
}

// ledgerKeep is how long a window stays in the ledger after its end: the
// life of its keys in Redis (48 h), and a day more.
const ledgerKeep = 72 * 3600

func loadLedger(dir, service, redisURL string) (*ledger, error) {
	l := &ledger{path: state.PathIn(dir, binaryName, service, fleet.RedactURL(redisURL)), Posted: map[string]ledgerEntry{}}
	err := state.Load(l.path, l)
	switch {
	case err == nil, errors.Is(err, os.ErrNotExist):
		if l.Posted == nil {
			l.Posted = map[string]ledgerEntry{}
		}
		return l, nil
	case errors.Is(err, state.ErrCorrupt):
		l.Posted = map[string]ledgerEntry{}
		return l, fmt.Errorf("%v: started afresh", err)
	}
	return nil, fmt.Errorf("--state-dir: %w", err)
}

// record adds a window handed over and saves the ledger, without the
// windows that ended more than ledgerKeep before now.
func (l *ledger) record(w fleet.Window, e ledgerEntry, now int64) error {
	l.Posted[w.String()] = e
	return l.save(now)
}

func (l *ledger) save(now int64) error {
	for k := range l.Posted {
		if w, err := fleet.ParseWindow(k); err != nil || w.End() < now-ledgerKeep {
			delete(l.Posted, k)
		}
	}
	if err := state.Save(l.path, l); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	return nil
}

// checksum is the sha256 of a window's metric lines.
func checksum(ms []metric) string {
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%s\t%s\t%d\n", m.Name, strconv.FormatFloat(m.Value, 'g', -1, 64), m.Time)
	}
	return hex.EncodeToString(h.Sum(nil))
}
