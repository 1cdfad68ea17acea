package tail

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
)

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
