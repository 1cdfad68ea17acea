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
//     content (detected by a fingerprint of its first bytes); the copy holding
//     the old content is found by the same fingerprint and its remainder read;
//   - delete and recreate (with or without inode reuse): the new file is read
//     from its start;
//   - a half-written last line: never consumed until its newline arrives.
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
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
}

// ErrMissing is returned (wrapped) when the log file does not exist.
var ErrMissing = errors.New("log file does not exist")

func identity(fi os.FileInfo) (dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Dev), st.Ino
}

// fingerprint hashes the first n bytes of f; ok is false when f has fewer.
func fingerprint(f *os.File, n int64) (string, bool) {
	if n <= 0 {
		return "", true
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return "", false
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:]), true
}

// sameContent reports whether f still begins with the bytes p fingerprinted.
func sameContent(f *os.File, p Position) bool {
	if p.FPLen == 0 {
		return true
	}
	fp, ok := fingerprint(f, p.FPLen)
	return ok && fp == p.Fingerprint
}

// Open plans a run for path from the previous state (nil on the first run).
// The caller reads every segment, calls Done on each, then Close, and saves
// Finish's State. A missing path is an error wrapping ErrMissing, and nothing
// is planned, so the saved state stays as it was.
func Open(path string, prev *State, opt Options) (*Run, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.RotatedKeep == 0 {
		opt.RotatedKeep = 10 * time.Minute
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrMissing, path)
		}
		return nil, fmt.Errorf("open log file %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat log file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("log file %s is not a regular file", path)
	}
	dev, ino := identity(fi)
	born := birthTimeOf(f)
	size := fi.Size()
	r := &Run{Path: path, now: opt.Now, files: []*os.File{f}}
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
		if opt.FromStart {
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
	same := cur.is(dev, ino, born)
	switch {
	case same && size >= cur.Offset && sameContent(f, cur):
		if cur.Offset == 0 {
			// Nothing had been read, so no fingerprint can show a
			// copytruncate: a rotation-named file that was not there
			// last time is the copy of lines we have not read.
			r.findNewCopy(entries, prev.Siblings, ino)
		}
		r.current = cur
		r.current.Born = born
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
		// Another file under the name: rename rotation, or delete+recreate.
		if !r.alreadyFollowed(cur) {
			r.follow(entries, Rotated{Path: path, Position: cur, LastSeen: opt.Now}, opt)
		}
		if prev.Siblings != nil {
			r.followIntermediates(entries, cur, prev.Siblings, opt)
		}
		r.addCurrent(f, 0, size, "new file", false)
	}
	return r, nil
}

// is reports whether p describes the file with this device, inode and birth
// time (a zero birth time, unknown, matches any).
func (p Position) is(dev, ino uint64, born int64) bool {
	return p.Dev == dev && p.Inode == ino && (p.Born == 0 || born == 0 || p.Born == born)
}

// birthTimeOf is birthTime for an open file.
func birthTimeOf(f *os.File) int64 {
	var stx unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &stx); err != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
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

// birthTime asks statx for a file's birth time; 0 when it is not known.
func birthTime(path string) int64 {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &stx); err != nil {
		return 0
	}
	if stx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
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
		if e.dev != old.Position.Dev || e.ino != old.Position.Inode {
			continue
		}
		if born := e.born; born == 0 && old.Position.Born != 0 {
			e.born = birthTime(e.path)
		}
		if !old.Position.is(e.dev, e.ino, e.born) {
			continue // the inode now belongs to another file
		}
		f, err := os.Open(e.path)
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
		r.rotated = append(r.rotated, Rotated{Path: e.path, Position: old.Position, LastSeen: lastSeen})
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
	if old.Path == r.Path {
		r.Notes = append(r.Notes, fmt.Sprintf("rotated log of %s (inode %d) not found in %s (compressed, moved or deleted); lines written to it after the last run are lost",
			r.Path, old.Position.Inode, filepath.Dir(r.Path)))
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
		f, err := os.Open(e.path)
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
	f, err := os.Open(newest.path)
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
		f, err := os.Open(e.path)
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
				carry, consumed = 0, off
				continue
			}
			skipping = false
			start = i + 1
			consumed = base + int64(start)
		}
		last := bytes.LastIndexByte(data[start:], '\n')
		if last < 0 {
			if len(data)-start > maxLine {
				onLong()
				skipping = true
				carry, consumed = 0, off
				continue
			}
			copy(buf, data[start:])
			carry = len(data) - start
			continue
		}
		end := start + last + 1
		consumed = base + int64(end)
		rest := data[end:]
		// Hand the lines over first: with a single buffer (ReadLines) get
		// returns the same one, and the carry must not overwrite them.
		put(buf, data[start:end])
		next := get()
		if len(rest) > maxLine {
			onLong()
			skipping = true
			carry, consumed = 0, off
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
