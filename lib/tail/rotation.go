package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

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
