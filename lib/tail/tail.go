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
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
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

// Segment is one byte range to read: [Start, End) of File. End is the file's
// size when the run opened it; what is written later is for the next run.
type Segment struct {
	File  *os.File
	Name  string // path, for messages
	Start int64
	End   int64
	Why   string // "append", "first run", "rotated remainder", "truncated", "new file", …
	// InLongLine: discard up to the first newline (an overlong line the
	// previous run was skipping).
	InLongLine bool

	pos    *Position
	isRot  int // index into Run.rotated, or -1 for the current file
	done   bool
	result Position
	// head keeps the first bytes read when the range starts at offset 0,
	// so that the fingerprint is of what was read, not of what the file
	// holds by the end of the run (it may have been truncated meanwhile).
	head []byte
	// tail keeps the last FingerprintSize bytes consumed, which end at
	// tailEnd: what the tail fingerprint is made of.
	tail    []byte
	tailEnd int64
}

// keepTail records b, consumed up to file offset end, keeping the last
// FingerprintSize bytes.
func (s *Segment) keepTail(b []byte, end int64) {
	if len(b) == 0 {
		return
	}
	if len(b) >= FingerprintSize {
		s.tail = append(s.tail[:0], b[len(b)-FingerprintSize:]...)
	} else {
		if over := len(s.tail) + len(b) - FingerprintSize; over > 0 {
			s.tail = s.tail[:copy(s.tail, s.tail[over:])]
		}
		s.tail = append(s.tail, b...)
	}
	s.tailEnd = end
}

// tailAt returns the tail fingerprint to save with p: of the last bytes this
// run consumed, or the saved one when the offset did not move.
func (s *Segment) tailAt(p Position) (string, int64) {
	if len(s.tail) > 0 && s.tailEnd == p.Offset {
		return hash(s.tail), int64(len(s.tail))
	}
	if p.Offset == s.pos.Offset {
		return p.TailFingerprint, p.TailLen
	}
	return "", 0
}

// keepHead records data (read at file offset base) into s.head while the
// first FingerprintSize bytes pass.
func (s *Segment) keepHead(data []byte, base int64) {
	if s.Start != 0 || base > int64(len(s.head)) || len(s.head) >= FingerprintSize {
		return
	}
	from := int64(len(s.head)) - base
	to := min(int64(len(data)), FingerprintSize-base)
	if from < to {
		s.head = append(s.head, data[from:to]...)
	}
}

// Done records how far the segment was consumed: offset is just after the
// last complete line handled; inLongLine tells that the range ended inside an
// overlong line that is being skipped.
func (s *Segment) Done(offset int64, inLongLine bool) {
	s.done = true
	s.result = *s.pos
	s.result.Offset = offset
	s.result.InLongLine = inLongLine
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

// openRegular opens path without blocking and checks that it is a regular
// file.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kindOf(fi.Mode()))
	}
	return f, fi, nil
}

func kindOf(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "type " + m.Type().String()
}

// FileID returns the device and inode of a file, as Position keeps them
// (0, 0 where the platform has no inodes).
func FileID(fi os.FileInfo) (dev, ino uint64) { return identity(fi) }

// hash is the fingerprint of b.
func hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fingerprint hashes the first n bytes of f; ok is false when f has fewer.
func fingerprint(f *os.File, n int64) (string, bool) {
	if n <= 0 {
		return "", true
	}
	return fingerprintAt(f, 0, n)
}

// fingerprintAt hashes the n bytes of f at off; ok is false when f has fewer.
func fingerprintAt(f *os.File, off, n int64) (string, bool) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return "", false
	}
	return hash(buf), true
}

// sameContent reports whether f still holds the bytes p fingerprinted: its
// first bytes and those just before p.Offset.
func sameContent(f *os.File, p Position) bool {
	if p.FPLen > 0 {
		if fp, ok := fingerprint(f, p.FPLen); !ok || fp != p.Fingerprint {
			return false
		}
	}
	if p.TailLen > 0 {
		if fp, ok := fingerprintAt(f, p.Offset-p.TailLen, p.TailLen); !ok || fp != p.TailFingerprint {
			return false
		}
	}
	return true
}

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

// is reports whether p describes the file with this device, inode and birth
// time (a zero birth time, unknown, matches any). Where both birth times are
// known they decide, whatever the device: the same file system mounted again
// from another device keeps inodes and birth times but not the device number.
func (p Position) is(dev, ino uint64, born int64) bool {
	if p.Inode != ino {
		return false
	}
	if p.Born != 0 && born != 0 {
		return p.Born == born
	}
	return p.Dev == dev
}

// remounted reports whether f, on another device than p says but with its
// inode, is p's file on a file system without birth times that was mounted
// again: it must hold every byte p fingerprinted.
func remounted(f *os.File, p Position, dev, ino uint64, born int64, size int64) bool {
	return p.Dev != dev && p.Inode == ino && (p.Born == 0 || born == 0) &&
		p.FPLen > 0 && size >= p.Offset && sameContent(f, p)
}

// copiedAway reports whether a rotation-named file that appeared since the
// last run holds what was read of the log and is larger than the log is now:
// a copy is never larger than the file it was taken from unless that file
// shrank since, so the log was truncated even though it begins (and, at the
// offset, reads) as before: lines without timestamps, all alike.
func copiedAway(entries []dirEntry, known []Sibling, log string, current uint64, size int64, cur Position) bool {
	if known == nil || cur.Offset == 0 {
		return false
	}
	for _, e := range entries {
		if e.ino == current || e.size <= size || e.size < cur.Offset || !isRotationName(e.path, log) {
			continue
		}
		if slices.Contains(known, e.sibling()) {
			continue
		}
		f, _, err := openRegular(e.path)
		if err != nil {
			continue
		}
		same := sameContent(f, cur)
		f.Close()
		if same {
			return true
		}
	}
	return false
}

// returning finds, among the rotated files the last run followed, the one
// now under the log's name, provided it still holds what was read of it.
// The caller skips it when following the rotated files.
func (r *Run) returning(f *os.File, rotated []Rotated, dev, ino uint64, born, size int64) *Rotated {
	for i, old := range rotated {
		p := old.Position
		if (p.is(dev, ino, born) || remounted(f, p, dev, ino, born, size)) && size >= p.Offset && sameContent(f, p) {
			return &rotated[i]
		}
	}
	return nil
}

type dirEntry struct {
	path     string
	dev, ino uint64
	size     int64
	mtime    time.Time
	born     int64 // birth time in ns, or 0 where the file system has none
}

func (e dirEntry) sibling() Sibling {
	if e.born != 0 {
		return Sibling{Inode: e.ino, Born: e.born}
	}
	return Sibling{Inode: e.ino, Born: e.mtime.UnixNano()}
}

// scanDir lists the regular files beside log.
func scanDir(log string) []dirEntry {
	dir := filepath.Dir(log)
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []dirEntry
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		dev, ino := identity(fi)
		e := dirEntry{path: filepath.Join(dir, de.Name()), dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime()}
		if isRotationName(e.path, log) {
			e.born = birthTime(e.path)
		}
		out = append(out, e)
	}
	return out
}

func (r *Run) alreadyFollowed(p Position) bool {
	for _, o := range r.rotated {
		if o.Position.is(p.Dev, p.Inode, p.Born) {
			return true
		}
	}
	return false
}

// follow finds a rotated file by device and inode and plans its remainder.
func (r *Run) follow(entries []dirEntry, old Rotated, opt Options) {
	for _, e := range entries {
		if e.ino != old.Position.Inode {
			continue
		}
		if born := e.born; born == 0 && old.Position.Born != 0 {
			e.born = birthTime(e.path)
		}
		if !old.Position.is(e.dev, e.ino, e.born) && (old.Position.Born != 0 || old.Position.FPLen == 0) {
			continue // the inode now belongs to another file (or another device)
		}
		f, _, err := openRegular(e.path)
		if err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("rotated log %s: %v; its unread lines are lost", e.path, err))
			return
		}
		if !sameContent(f, old.Position) || e.size < old.Position.Offset {
			f.Close()
			r.Notes = append(r.Notes, fmt.Sprintf("rotated log %s changed content; its unread lines are lost", e.path))
			return
		}
		r.files = append(r.files, f)
		lastSeen := old.LastSeen
		if e.size > old.Position.Offset || e.mtime.After(lastSeen) {
			lastSeen = opt.Now
		}
		keep := opt.Now.Sub(e.mtime) < opt.RotatedKeep
		pos := old.Position
		pos.Dev = e.dev
		r.rotated = append(r.rotated, Rotated{Path: e.path, Position: pos, LastSeen: lastSeen})
		idx := len(r.rotated) - 1
		if !keep {
			// Written to long ago: read its rest once more, then forget it.
			r.rotated[idx].LastSeen = time.Time{}
		}
		r.Segments = append(r.Segments, &Segment{
			File: f, Name: e.path, Start: old.Position.Offset, End: e.size, Why: "rotated remainder",
			InLongLine: old.Position.InLongLine, pos: &r.rotated[idx].Position, isRot: idx,
		})
		return
	}
	if old.Path == r.Path && !old.Reported {
		old.Reported = true
		r.Notes = append(r.Notes, fmt.Sprintf("rotated log of %s (inode %d) not found in %s (compressed, moved or deleted); lines written to it after the last run are not counted unless it comes back under the log's name",
			r.Path, old.Position.Inode, filepath.Dir(r.Path)))
	}
	// Remembered for a while without being read: a symlink pointed back, or
	// a rename undone, resumes it where it was left.
	if !old.LastSeen.IsZero() && opt.Now.Sub(old.LastSeen) < opt.RotatedKeep {
		r.away = append(r.away, old)
	}
}

// followIntermediates plans, whole, the logs that lived and were rotated
// away entirely between two runs (two rotations in one interval): files
// named like uncompressed rotations of the log that were not beside it at
// the last run (known), are not followed already, and are not a copy of the
// file the last run was reading (copytruncate's copies are new files too).
func (r *Run) followIntermediates(entries []dirEntry, old Position, known []Sibling, opt Options) {
	var mids []dirEntry
	for _, e := range entries {
		if !isRotationName(e.path, r.Path) || slices.Contains(known, e.sibling()) ||
			r.alreadyFollowed(Position{Dev: e.dev, Inode: e.ino, Born: e.born}) {
			continue
		}
		mids = append(mids, e)
	}
	sort.Slice(mids, func(i, j int) bool { return mids[i].mtime.Before(mids[j].mtime) })
	for _, e := range mids {
		f, _, err := openRegular(e.path)
		if err != nil {
			continue
		}
		isCopy := old.FPLen > 0 && sameContent(f, old)
		f.Close()
		if isCopy {
			continue
		}
		r.follow(entries, Rotated{Path: e.path, Position: Position{Dev: e.dev, Inode: e.ino, Born: e.born}, LastSeen: opt.Now}, opt)
	}
}

// isRotationName reports whether name (beside log) looks like one of its
// uncompressed rotations: access.log.1, access.log-20261125.
func isRotationName(name, log string) bool {
	base, n := filepath.Base(log), filepath.Base(name)
	if n == base || !strings.HasPrefix(n, base) {
		return false
	}
	for _, ext := range []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"} {
		if strings.HasSuffix(n, ext) {
			return false
		}
	}
	return true
}

// findNewCopy plans the whole of a rotation-named file that appeared since
// the last run (its inode is not in known), when the log had been empty.
func (r *Run) findNewCopy(entries []dirEntry, known []Sibling, current uint64) {
	var newest *dirEntry
	for i, e := range entries {
		if !isRotationName(e.path, r.Path) || e.ino == current || e.size == 0 || slices.Contains(known, e.sibling()) ||
			r.alreadyFollowed(Position{Dev: e.dev, Inode: e.ino, Born: e.born}) {
			continue
		}
		if newest == nil || e.mtime.After(newest.mtime) {
			newest = &entries[i]
		}
	}
	if newest == nil {
		return
	}
	f, _, err := openRegular(newest.path)
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("copy of %s at %s: %v; its lines are lost", r.Path, newest.path, err))
		return
	}
	r.files = append(r.files, f)
	r.rotated = append(r.rotated, Rotated{Path: newest.path, Position: Position{Dev: newest.dev, Inode: newest.ino, Born: newest.born}})
	idx := len(r.rotated) - 1
	r.Segments = append(r.Segments, &Segment{
		File: f, Name: newest.path, Start: 0, End: newest.size, Why: "copy of unread lines",
		pos: &r.rotated[idx].Position, isRot: idx,
	})
}

// findCopy looks for copytruncate's copy of the old content: a sibling named
// like the log whose first bytes match the saved fingerprint.
func (r *Run) findCopy(entries []dirEntry, cur Position, path string, opt Options) {
	var cands []dirEntry
	for _, e := range entries {
		if !isRotationName(e.path, path) {
			continue
		}
		if e.size < cur.Offset || r.alreadyFollowed(Position{Dev: e.dev, Inode: e.ino, Born: e.born}) {
			continue
		}
		cands = append(cands, e)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].mtime.After(cands[j].mtime) })
	for _, e := range cands {
		f, _, err := openRegular(e.path)
		if err != nil {
			continue
		}
		if sameContent(f, cur) {
			r.files = append(r.files, f)
			p := cur
			p.Dev, p.Inode, p.Born = e.dev, e.ino, e.born
			// A copy is complete once made: read its rest once, don't follow it.
			r.rotated = append(r.rotated, Rotated{Path: e.path, Position: p})
			idx := len(r.rotated) - 1
			r.Segments = append(r.Segments, &Segment{
				File: f, Name: e.path, Start: cur.Offset, End: e.size, Why: "copy's remainder",
				InLongLine: cur.InLongLine, pos: &r.rotated[idx].Position, isRot: idx,
			})
			return
		}
		f.Close()
	}
	if cur.Offset > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%s was truncated; no uncompressed copy of its old content found beside it, so lines written after the last run and before the truncation are lost", path))
	}
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

// fingerprintAt returns the fingerprint to save with p: of the first
// min(p.Offset, FingerprintSize) bytes as this run read them, or, for a range
// that did not start at 0, of the file's first bytes now, provided these
// still begin with what the saved fingerprint covers. Otherwise (the file
// changed during the run) the old fingerprint stays, and the next run sees
// the change.
func (s *Segment) fingerprintAt(p Position) (string, int64) {
	n := min(p.Offset, FingerprintSize)
	if n == 0 {
		return "", 0
	}
	if n == p.FPLen && p.Fingerprint != "" {
		return p.Fingerprint, p.FPLen
	}
	if s.Start == 0 {
		if int64(len(s.head)) < n {
			return p.Fingerprint, p.FPLen
		}
		h := sha256.Sum256(s.head[:n])
		return hex.EncodeToString(h[:]), n
	}
	buf := make([]byte, n)
	if _, err := s.File.ReadAt(buf, 0); err != nil {
		return p.Fingerprint, p.FPLen
	}
	if p.FPLen > 0 {
		old := sha256.Sum256(buf[:p.FPLen])
		if hex.EncodeToString(old[:]) != p.Fingerprint {
			return p.Fingerprint, p.FPLen
		}
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:]), n
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

// Chunks reads seg from Start to End and hands over whole lines in chunks.
// get returns an empty buffer (all of the same length, which must exceed
// maxLine); put receives a filled buffer and the part of it that holds whole
// lines, each ending with '\n', and owns the buffer until it hands it back to
// whatever get draws from. Chunks never writes to a buffer it has put.
// A line that outgrows maxLine before its newline arrives is skipped and
// reported once through onLong; lines within a chunk are the consumer's to
// check against maxLine. Every buffer drawn from get is handed to put exactly
// once, the last one possibly with no lines. Chunks calls seg.Done with the offset after the last
// newline handed over, so a half-written last line waits for the next run.
func Chunks(seg *Segment, get func() []byte, put func(buf, lines []byte), maxLine int, onLong func()) error {
	off := seg.Start
	skipping := seg.InLongLine
	consumed := seg.Start
	buf := get()
	if len(buf) <= maxLine {
		put(buf, buf[:0])
		return fmt.Errorf("tail: buffer of %d bytes cannot hold a line of %d", len(buf), maxLine)
	}
	carry := 0 // buf[:carry] is a line begun in the previous chunk
	// consume marks data (read at file offset base) as consumed up to file
	// offset to; it must run before the lines are put, as the consumer may
	// rewrite them in place.
	consume := func(data []byte, base, to int64) {
		seg.keepTail(data[consumed-base:to-base], to)
		consumed = to
	}
	for off < seg.End {
		want := min(int64(len(buf)-carry), seg.End-off)
		n, err := seg.File.ReadAt(buf[carry:carry+int(want)], off)
		if n == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				break // truncated under us: the next run sees it
			}
			put(buf, buf[:0])
			return fmt.Errorf("read %s at offset %d: %w", seg.Name, off, err)
		}
		off += int64(n)
		data := buf[:carry+n]
		base := off - int64(len(data)) // file offset of data[0]
		seg.keepHead(data, base)
		start := 0
		if skipping {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				consume(data, base, off)
				carry = 0
				continue
			}
			skipping = false
			start = i + 1
			consume(data, base, base+int64(start))
		}
		last := bytes.LastIndexByte(data[start:], '\n')
		if last < 0 {
			if len(data)-start > maxLine {
				onLong()
				skipping = true
				consume(data, base, off)
				carry = 0
				continue
			}
			copy(buf, data[start:])
			carry = len(data) - start
			continue
		}
		end := start + last + 1
		rest := data[end:]
		longRest := len(rest) > maxLine
		if longRest {
			consume(data, base, off)
		} else {
			consume(data, base, base+int64(end))
		}
		// Hand the lines over first: with a single buffer (ReadLines) get
		// returns the same one, and the carry must not overwrite them.
		put(buf, data[start:end])
		next := get()
		if longRest {
			onLong()
			skipping = true
			carry = 0
		} else {
			copy(next, rest)
			carry = len(rest)
		}
		buf = next
	}
	put(buf, buf[:0])
	seg.Done(consumed, skipping)
	return nil
}

// ReadLines is Chunks with one buffer, calling fn for each whole line
// (without its newline) that is no longer than maxLine, and onLong for each
// that is.
func ReadLines(seg *Segment, buf []byte, maxLine int, fn func(line []byte), onLong func()) error {
	return Chunks(seg, func() []byte { return buf }, func(_, lines []byte) {
		for len(lines) > 0 {
			i := bytes.IndexByte(lines, '\n')
			if i > maxLine {
				onLong()
			} else {
				fn(lines[:i])
			}
			lines = lines[i+1:]
		}
	}, maxLine, onLong)
}

// LimitBacklog skips the oldest unread bytes so that at most max remain to be
// read in this run, and returns how many were skipped. A segment cut in the
// middle of a line discards the rest of that line.
func (r *Run) LimitBacklog(max int64) int64 {
	var total int64
	for _, s := range r.Segments {
		total += s.End - s.Start
	}
	excess := total - max
	if excess <= 0 {
		return 0
	}
	skipped := excess
	for _, s := range r.Segments {
		if excess <= 0 {
			break
		}
		cut := min(excess, s.End-s.Start)
		s.Start += cut
		excess -= cut
		s.InLongLine = !atLineStart(s.File, s.Start)
	}
	return skipped
}

// atLineStart reports whether off begins a line: the start of the file, or
// just after a newline.
func atLineStart(f *os.File, off int64) bool {
	if off == 0 {
		return true
	}
	var b [1]byte
	n, _ := f.ReadAt(b[:], off-1)
	return n == 1 && b[0] == '\n'
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
