// Package tail reads a growing log file incrementally, run after run, without
// losing or repeating a line through rotation. A run opens the file, plans the
// byte ranges to read from the previous run's Position, the caller reads them
// (whole lines only) and reports how far it got, and the new State is saved.
//
// What it handles between two runs:
//   - appends: read from the saved offset;
//   - rename rotation (logrotate's default, with or without delaycompress): the
//     old file is found again by device and inode in the same directory, its
//     remainder is read first, then the new file from its start; the old file
//     stays tracked for a while because the writer may append to it until it
//     reopens its log;
//   - copytruncate: the file shrank, or regrew past the saved offset with other
//     content (detected by fingerprints of its first bytes and of the bytes
//     before the offset, or, when every line is alike, by a new copy larger
//     than the file); the copy holding the old content is found by the same
//     fingerprints and its remainder read;
//   - delete and recreate (with or without inode reuse): the new file is read
//     from its start;
//   - a half-written last line: never consumed until its newline arrives;
//   - a rotated file that comes back under the log's name (a rename undone,
//     a symlink pointed back): resumed where it was left;
//   - the file system mounted again from another device (the device number
//     changed): the file is known by inode and birth time, or by inode and
//     fingerprints where no birth time is kept;
//   - a FIFO or a device under the log's name: refused at once
//     (ErrNotRegular), never waited on.
package tail

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// FingerprintSize is how many leading bytes identify a file's content.
const FingerprintSize = 4096

// Position is how far one file (identified by device and inode) was read.
type Position struct {
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
	// Born is the file's birth time in ns where the file system keeps it:
	// inode numbers are reused at once, so a recreated file or a new copy
	// can carry the inode of the one that was deleted.
	Born   int64 `json:"born,omitempty"`
	Offset int64 `json:"offset"`
	// Fingerprint is a hash of the first FPLen bytes (FPLen = min(Offset,
	// FingerprintSize)): those bytes were read, so they cannot change unless
	// the file was truncated and rewritten.
	Fingerprint string `json:"fingerprint,omitempty"`
	FPLen       int64  `json:"fp_len"`
	// TailFingerprint is a hash of the TailLen bytes just before Offset, as
	// the run that reached Offset read them: a log truncated and rewritten
	// with the same first bytes (lines without timestamps, health checks)
	// still differs there.
	TailFingerprint string `json:"tail_fingerprint,omitempty"`
	TailLen         int64  `json:"tail_len,omitempty"`
	// InLongLine: the last run stopped inside an overlong line that is being
	// skipped; the next run discards up to its newline.
	InLongLine bool `json:"in_long_line,omitempty"`
}

// Rotated is a file that was rotated away and may still receive the writer's
// last lines.
type Rotated struct {
	Path     string    `json:"path"` // where it was last seen
	Position Position  `json:"position"`
	LastSeen time.Time `json:"last_seen"`
	// Reported is set once a run said the file could not be found: the
	// runs that remember it afterwards say nothing more.
	Reported bool `json:"reported,omitempty"`
}

// State is everything saved between runs for one log path.
type State struct {
	Path    string    `json:"path"`
	Current Position  `json:"current"`
	Rotated []Rotated `json:"rotated,omitempty"`
	LastRun time.Time `json:"last_run"`
	// Siblings are the files named like rotations of the log that were
	// beside it when the run began. A file that appears later is new: a
	// copy made by copytruncate when the log had been empty (no fingerprint
	// to compare), or a log rotated away whole between two runs.
	Siblings []Sibling `json:"siblings"`
}

// Sibling identifies a file beside the log: its inode and its birth time
// (inode numbers are reused at once when logrotate deletes one file and
// creates another), or its modification time where the file system keeps no
// birth time.
type Sibling struct {
	Inode uint64 `json:"inode"`
	Born  int64  `json:"born"`
}

// Options tune a run.
type Options struct {
	// FromStart reads a file seen for the first time from its start instead
	// of its end.
	FromStart bool
	// RotatedKeep is how long a rotated file is still followed after its
	// last write (default 10 minutes).
	RotatedKeep time.Duration
	// Now is the run's time (default time.Now()).
	Now time.Time
}

// Run is one run's plan for one path.
type Run struct {
	Path     string
	Segments []*Segment
	// Notes are one-line warnings for stderr (a rotated file that could not be
	// found again, so its unread remainder was lost).
	Notes []string
	// FirstRun: there was no previous state; nothing was read unless FromStart.
	FirstRun bool

	prev     State
	current  Position
	rotated  []Rotated
	now      time.Time
	files    []*os.File
	siblings []Sibling // rotation-named files beside the log when the run began
	away     []Rotated // followed files not found this run, remembered a while
}

// ErrMissing is returned (wrapped) when the log file does not exist.
var ErrMissing = errors.New("log file does not exist")

// ErrNotRegular is returned (wrapped) when the log path is a FIFO, a device,
// a socket or a directory: nothing to read incrementally, and a FIFO would
// block.
var ErrNotRegular = errors.New("not a regular file")

// invalid names what makes a saved position impossible ("" when nothing):
// a hand-edited or damaged state file must not make every run fail.
func (p Position) invalid() string {
	switch {
	case p.Offset < 0:
		return fmt.Sprintf("negative offset %d", p.Offset)
	case p.FPLen < 0 || p.FPLen > FingerprintSize || p.FPLen > p.Offset || (p.FPLen > 0) != (p.Fingerprint != ""):
		return fmt.Sprintf("fingerprint length %d at offset %d", p.FPLen, p.Offset)
	case p.TailLen < 0 || p.TailLen > FingerprintSize || p.TailLen > p.Offset || (p.TailLen > 0) != (p.TailFingerprint != ""):
		return fmt.Sprintf("tail fingerprint length %d at offset %d", p.TailLen, p.Offset)
	}
	return ""
}

// invalid names what is impossible in a saved state ("" when nothing).
func (st *State) invalid() string {
	if why := st.Current.invalid(); why != "" {
		return why
	}
	for _, r := range st.Rotated {
		if why := r.Position.invalid(); why != "" {
			return "rotated file " + r.Path + ": " + why
		}
	}
	return ""
}

// Open plans a run for path from the previous state (nil on the first run).
// The caller reads every segment, calls Done on each, then Close, and saves
// Finish's State. A missing path is an error wrapping ErrMissing, and nothing
// is planned, so the saved state stays as it was; a path that is not a
// regular file is an error wrapping ErrNotRegular, found without blocking. A
// previous state with impossible values (a negative offset) is set aside with
// a note, as if there were none.
func Open(path string, prev *State, opt Options) (*Run, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.RotatedKeep == 0 {
		opt.RotatedKeep = 10 * time.Minute
	}
	f, fi, err := openRegular(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrMissing, path)
		}
		if errors.Is(err, ErrNotRegular) {
			return nil, fmt.Errorf("log file %w", err)
		}
		return nil, fmt.Errorf("open log file %s: %w", path, err)
	}
	dev, ino := identity(fi)
	born := birthTimeOf(f)
	size := fi.Size()
	r := &Run{Path: path, now: opt.Now, files: []*os.File{f}}
	setAside := false
	if prev != nil {
		if why := prev.invalid(); why != "" {
			setAside = true
			r.Notes = append(r.Notes, fmt.Sprintf("saved state of %s is impossible (%s); starting afresh at the end of the file", path, why))
			prev = nil
		}
	}
	r.current = Position{Dev: dev, Inode: ino, Born: born}
	entries := scanDir(path)
	for _, e := range entries {
		if isRotationName(e.path, path) {
			r.siblings = append(r.siblings, e.sibling())
		}
	}

	if prev == nil || prev.Current.Inode == 0 {
		r.FirstRun = true
		start := size
		why := "first run: starting at the end"
		if opt.FromStart && !setAside { // an offset set aside was past the start
			start, why = 0, "first run: from the start"
		}
		r.current.Offset = start
		r.addCurrent(f, start, size, why, false)
		return r, nil
	}
	r.prev = *prev

	// Rotated files already followed: read what was appended since.
	for _, old := range prev.Rotated {
		if old.Position.is(dev, ino, born) {
			continue // it came back under the main name; handled below
		}
		r.follow(entries, old, opt)
	}

	cur := prev.Current
	same := cur.is(dev, ino, born) || remounted(f, cur, dev, ino, born, size)
	back := r.returning(f, prev.Rotated, dev, ino, born, size)
	switch {
	case same && size >= cur.Offset && sameContent(f, cur) && !copiedAway(entries, prev.Siblings, path, ino, size, cur):
		if cur.Offset == 0 {
			// Nothing had been read, so no fingerprint can show a
			// copytruncate: a rotation-named file that was not there
			// last time is the copy of lines we have not read.
			r.findNewCopy(entries, prev.Siblings, ino)
		}
		r.current = cur
		r.current.Dev, r.current.Born = dev, born
		r.addCurrent(f, cur.Offset, size, "append", cur.InLongLine)
	case same:
		// Same file, other content: truncated in place (copytruncate), or
		// deleted and recreated with the inode reused. The old content, if
		// copied, is in a sibling with the same fingerprint.
		why := "truncated"
		if size >= cur.Offset {
			why = "truncated and regrown"
		}
		r.findCopy(entries, cur, path, opt)
		r.addCurrent(f, 0, size, why, false)
	default:
		// Another file under the name: rename rotation, delete+recreate, or
		// a rotated file brought back (its rest is read from where it was).
		if !r.alreadyFollowed(cur) {
			r.follow(entries, Rotated{Path: path, Position: cur, LastSeen: opt.Now}, opt)
		}
		if prev.Siblings != nil {
			r.followIntermediates(entries, cur, prev.Siblings, opt)
		}
		if back != nil {
			r.current = back.Position
			r.current.Dev, r.current.Born = dev, born
			r.addCurrent(f, back.Position.Offset, size, "rotated file back under the log's name", back.Position.InLongLine)
			break
		}
		r.addCurrent(f, 0, size, "new file", false)
	}
	return r, nil
}

func (r *Run) addCurrent(f *os.File, start, end int64, why string, inLong bool) {
	r.current.Offset = start
	r.current.InLongLine = inLong
	if start == 0 {
		r.current.Fingerprint, r.current.FPLen = "", 0
		r.current.TailFingerprint, r.current.TailLen = "", 0
	}
	r.Segments = append(r.Segments, &Segment{File: f, Name: r.Path, Start: start, End: end, Why: why, InLongLine: inLong, pos: &r.current, isRot: -1})
}

// Close closes the files the run opened.
func (r *Run) Close() {
	for _, f := range r.files {
		f.Close()
	}
	r.files = nil
}

// Finish returns the state to save: every segment's consumed offset, with
// fingerprints brought up to date. Call it before Close. Segments whose Done
// was never called keep their starting offset (nothing consumed).
func (r *Run) Finish() State {
	st := State{Path: r.Path, LastRun: r.now}
	for _, s := range r.Segments {
		p := *s.pos
		if s.done {
			p = s.result
		} else {
			p.Offset = s.Start
			p.InLongLine = s.InLongLine
		}
		p.Fingerprint, p.FPLen = s.fingerprintAt(p)
		p.TailFingerprint, p.TailLen = s.tailAt(p)
		if s.isRot < 0 {
			st.Current = p
			continue
		}
		old := r.rotated[s.isRot]
		old.Position = p
		// A zero LastSeen marks a file no longer written to (or a complete
		// copy): once read to its end it is forgotten.
		if old.LastSeen.IsZero() && p.Offset >= s.End && !p.InLongLine {
			continue
		}
		st.Rotated = append(st.Rotated, old)
	}
	st.Rotated = append(st.Rotated, r.away...)
	st.Siblings = r.siblings
	if st.Siblings == nil {
		st.Siblings = []Sibling{} // "none", unlike a state from before siblings were kept
	}
	return st
}

// SamePlace says whether s and o hold the same positions (every file, its
// offset and identity, the rotated files followed and the siblings seen):
// everything but LastRun. A run that ends in the same place as it began has
// read nothing, and its state need not be written again.
func (s State) SamePlace(o State) bool {
	if s.Path != o.Path || s.Current != o.Current || len(s.Rotated) != len(o.Rotated) ||
		len(s.Siblings) != len(o.Siblings) || (s.Siblings == nil) != (o.Siblings == nil) {
		return false
	}
	for i, r := range s.Rotated {
		p := o.Rotated[i]
		if r.Path != p.Path || r.Position != p.Position || !r.LastSeen.Equal(p.LastSeen) {
			return false
		}
	}
	return slices.Equal(s.Siblings, o.Siblings)
}
