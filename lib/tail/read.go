package tail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

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
