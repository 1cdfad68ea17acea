package tail

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// reader runs the plugin's cycle (open, read every segment, finish, save) and
// remembers the state between runs, as the state file would.
type reader struct {
	t       *testing.T
	path    string
	st      *State
	opt     Options
	maxLine int
	bufSize int
	long    int
	notes   []string
}

func (r *reader) run() []string {
	r.t.Helper()
	run, err := Open(r.path, r.st, r.opt)
	if err != nil {
		r.t.Fatalf("Open: %v", err)
	}
	defer run.Close()
	r.notes = append(r.notes, run.Notes...)
	var lines []string
	bs := r.bufSize
	if bs == 0 {
		bs = 64
	}
	if r.maxLine == 0 {
		r.maxLine = 40
	}
	buf := make([]byte, bs)
	for _, seg := range run.Segments {
		err := ReadLines(seg, buf, r.maxLine, func(l []byte) { lines = append(lines, string(l)) }, func() { r.long++ })
		if err != nil {
			r.t.Fatal(err)
		}
	}
	st := run.Finish()
	r.st = &st
	return lines
}

func appendTo(t *testing.T, path string, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %05d status=200\n", i)
	}
	return b.String()
}

func want(t *testing.T, got []string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d lines, want %d (%d..%d): %q", len(got), to-from, from, to-1, got)
	}
	for i, l := range got {
		if w := fmt.Sprintf("line %05d status=200", from+i); l != w {
			t.Fatalf("line %d = %q, want %q", i, l, w)
		}
	}
}

func setup(t *testing.T) (string, *reader) {
	dir := t.TempDir()
	p := filepath.Join(dir, "access.log")
	return p, &reader{t: t, path: p}
}

func TestFirstRunStartsAtEndUnlessFromStart(t *testing.T) {
	p, r := setup(t)
	appendTo(t, p, numbered(0, 10))
	if got := r.run(); len(got) != 0 {
		t.Fatalf("first run read %d lines", len(got))
	}
	appendTo(t, p, numbered(10, 15))
	want(t, r.run(), 10, 15)

	p2, r2 := setup(t)
	r2.opt.FromStart = true
	appendTo(t, p2, numbered(0, 10))
	want(t, r2.run(), 0, 10)
}

func TestAppendAndHalfWrittenLine(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 7)+"line 00007 sta")
	want(t, r.run(), 0, 7)
	want(t, r.run(), 0, 0)
	appendTo(t, p, "tus=200\n"+numbered(8, 20))
	want(t, r.run(), 7, 20)
}

func TestMissingFileLeavesStateAlone(t *testing.T) {
	p, r := setup(t)
	_, err := Open(p, nil, Options{})
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	_ = r
}

func TestRenameRotationReadsRemainderThenNewFile(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 5))
	want(t, r.run(), 0, 5)
	appendTo(t, p, numbered(5, 8))
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	// The writer has not reopened yet: it still appends to the renamed file.
	appendTo(t, p+".1", numbered(8, 10))
	appendTo(t, p, numbered(10, 12))
	want(t, r.run(), 5, 12)
	// Late lines to the rotated file after this run are still picked up.
	appendTo(t, p+".1", numbered(12, 13))
	appendTo(t, p, numbered(13, 15))
	got := r.run()
	if len(got) != 3 || got[0] != "line 00012 status=200" {
		t.Fatalf("late lines: %q", got)
	}
	if len(r.notes) != 0 {
		t.Fatalf("notes: %v", r.notes)
	}
}

func TestDelaycompressCycles(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	n := 0
	for cycle := 0; cycle < 4; cycle++ {
		appendTo(t, p, numbered(n, n+6))
		n += 6
		// logrotate with delaycompress: .1 → .2.gz (compressed copy, new inode), log → .1, new log
		if _, err := os.Stat(p + ".1"); err == nil {
			b, _ := os.ReadFile(p + ".1")
			os.WriteFile(p+".2.gz", b, 0o644) // stands in for gzip: another inode, other name
			os.Remove(p + ".1")
		}
		os.Rename(p, p+".1")
		appendTo(t, p, numbered(n, n+3))
		n += 3
		got := r.run()
		if cycle == 0 {
			want(t, got, 6, 9) // no state yet: the rotated file was never seen
		} else {
			want(t, got, n-9, n)
		}
	}
}

func TestCopyTruncateShrunk(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 10))
	want(t, r.run(), 0, 10)
	appendTo(t, p, numbered(10, 14))
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".1", b, 0o644)
	os.Truncate(p, 0)
	appendTo(t, p, numbered(14, 16))
	want(t, r.run(), 10, 16)
}

func TestCopyTruncateRegrownPastOffset(t *testing.T) {
	// The case the peers get wrong: by the next run the truncated file is
	// larger than the saved offset again, so size alone does not show it.
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 3))
	want(t, r.run(), 0, 3)
	appendTo(t, p, numbered(3, 5))
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".1", b, 0o644)
	os.Truncate(p, 0)
	appendTo(t, p, numbered(5, 15))
	want(t, r.run(), 3, 15)
	appendTo(t, p, numbered(15, 16))
	want(t, r.run(), 15, 16)
}

func TestCopyTruncateWithoutCopyNotes(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 3))
	r.run()
	os.Truncate(p, 0)
	appendTo(t, p, numbered(3, 5))
	want(t, r.run(), 3, 5)
	if len(r.notes) != 1 || !strings.Contains(r.notes[0], "truncated") {
		t.Fatalf("notes: %v", r.notes)
	}
}

func TestDeleteAndRecreate(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 10))
	want(t, r.run(), 0, 10)
	os.Remove(p)
	appendTo(t, p, numbered(10, 30)) // may reuse the inode, and is larger than the old offset
	want(t, r.run(), 10, 30)
	os.Remove(p)
	appendTo(t, p, numbered(30, 31)) // smaller than the old offset
	want(t, r.run(), 30, 31)
}

func TestOverlongLinesSkippedAndCounted(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	r.maxLine, r.bufSize = 30, 48
	long := strings.Repeat("x", 100)
	appendTo(t, p, numbered(0, 2)+long+"\n"+numbered(2, 4)+strings.Repeat("y", 35)+"\n")
	want(t, r.run(), 0, 4)
	if r.long != 2 {
		t.Fatalf("long = %d, want 2", r.long)
	}
	// An overlong line still being written when the run ends: skipped, and
	// the next run discards its end instead of taking it for a line.
	appendTo(t, p, strings.Repeat("z", 70))
	want(t, r.run(), 0, 0)
	appendTo(t, p, strings.Repeat("z", 10)+"\n"+numbered(4, 6))
	want(t, r.run(), 4, 6)
	if r.long != 3 {
		t.Fatalf("long = %d, want 3", r.long)
	}
}

func TestChunkBoundariesEveryBufferSize(t *testing.T) {
	content := numbered(0, 50)
	for bs := 23; bs < 90; bs += 7 {
		p, r := setup(t)
		r.opt.FromStart = true
		r.bufSize, r.maxLine = bs, 22
		appendTo(t, p, content)
		want(t, r.run(), 0, 50)
	}
}

func TestRotatedFileForgottenWhenOld(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 2))
	r.run()
	os.Rename(p, p+".1")
	appendTo(t, p, numbered(2, 3))
	r.run()
	if len(r.st.Rotated) != 1 {
		t.Fatalf("rotated = %+v", r.st.Rotated)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p+".1", old, old)
	r.run()
	if len(r.st.Rotated) != 0 {
		t.Fatalf("rotated file still followed: %+v", r.st.Rotated)
	}
}

func TestLimitBacklogSkipsOldestAndLandsOnALine(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 1))
	r.run()
	appendTo(t, p, numbered(1, 11)) // 10 lines of 22 bytes
	run, err := Open(p, r.st, r.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if sk := run.LimitBacklog(22*3 + 5); sk != 22*7-5 {
		t.Fatalf("skipped %d", sk)
	}
	var got []string
	for _, seg := range run.Segments {
		ReadLines(seg, make([]byte, 64), 40, func(l []byte) { got = append(got, string(l)) }, func() {})
	}
	want(t, got, 8, 11) // the partial line 7 is discarded, not parsed
	st := run.Finish()
	r.st = &st
	appendTo(t, p, numbered(11, 12))
	want(t, r.run(), 11, 12)
}

// FuzzChunks: whatever the content, buffer size and line limit, the lines
// handed over are exactly the complete lines of the range that fit the limit,
// the overlong ones are reported once each, and the consumed offset stops
// after the last newline.
func FuzzChunks(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), uint8(8), uint8(3))
	f.Add([]byte("line one\n\nxxxxxxxxxxxxxxxxxxxxxxx\nhalf"), uint8(5), uint8(4))
	f.Add([]byte("\n\n\n"), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, content []byte, bufExtra, maxLine8 uint8) {
		maxLine := int(maxLine8)
		bufSize := maxLine + 1 + int(bufExtra)
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		file, _ := os.Open(p)
		defer file.Close()
		seg := &Segment{File: file, Name: p, Start: 0, End: int64(len(content)), pos: &Position{}, isRot: -1}
		var got []string
		long := 0
		if err := ReadLines(seg, make([]byte, bufSize), maxLine, func(l []byte) { got = append(got, string(l)) }, func() { long++ }); err != nil {
			t.Fatal(err)
		}
		var want []string
		wantLong := 0
		last := bytes.LastIndexByte(content, '\n')
		if last >= 0 {
			for _, l := range bytes.Split(content[:last], []byte("\n")) {
				if len(l) > maxLine {
					wantLong++
				} else {
					want = append(want, string(l))
				}
			}
		}
		tail := content[last+1:]
		if len(tail) > maxLine {
			wantLong++ // an overlong unfinished line is reported at once
		}
		if !slices.Equal(got, want) || long != wantLong {
			t.Fatalf("buf %d max %d: got %q (%d long), want %q (%d long)", bufSize, maxLine, got, long, want, wantLong)
		}
		wantOff := int64(last + 1)
		if len(tail) > maxLine {
			wantOff = int64(len(content))
		}
		if !seg.done || seg.result.Offset != wantOff {
			t.Fatalf("consumed %d, want %d", seg.result.Offset, wantOff)
		}
		// The tail fingerprint is made of the bytes consumed, ending there.
		if wantTail := content[max(0, wantOff-FingerprintSize):wantOff]; !bytes.Equal(seg.tail, wantTail) || (wantOff > 0 && seg.tailEnd != wantOff) {
			t.Fatalf("tail window %q ending at %d, want %q ending at %d", seg.tail, seg.tailEnd, wantTail, wantOff)
		}
	})
}

func TestTwoRenameRotationsBetweenRuns(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 3))
	want(t, r.run(), 0, 3)
	// Birth times tick with the kernel's coarse clock: rotations are
	// minutes apart in life, milliseconds apart here.
	tick := func() { time.Sleep(20 * time.Millisecond) }
	appendTo(t, p, numbered(3, 5))
	tick()
	os.Rename(p, p+".1") // first rotation
	appendTo(t, p, numbered(5, 9))
	tick()
	os.Rename(p+".1", p+".2") // second rotation, no run in between
	os.Rename(p, p+".1")
	appendTo(t, p, numbered(9, 12))
	want(t, r.run(), 3, 12)
	appendTo(t, p, numbered(12, 13))
	want(t, r.run(), 12, 13)
}

func TestCopiesAreNotTakenForIntermediateLogs(t *testing.T) {
	// copytruncate's copies are born after the log; when the log is then
	// deleted and recreated, they must not be read again.
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 3))
	want(t, r.run(), 0, 3)
	time.Sleep(20 * time.Millisecond)
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".1", b, 0o644)
	time.Sleep(20 * time.Millisecond)
	os.Remove(p)
	appendTo(t, p, numbered(3, 5))
	want(t, r.run(), 3, 5)
}

// A copytruncate that lands while a run reads: the fingerprint saved must be
// of the bytes that run read, so the next run still sees the truncation.
func TestTruncatedDuringTheRun(t *testing.T) {
	for _, fromStart := range []bool{true, false} {
		p, r := setup(t)
		r.opt.FromStart = true
		if !fromStart {
			appendTo(t, p, numbered(0, 1))
			want(t, r.run(), 0, 1)
		}
		appendTo(t, p, numbered(1, 5))
		run, err := Open(p, r.st, r.opt)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, seg := range run.Segments {
			ReadLines(seg, make([]byte, 64), 40, func(l []byte) { got = append(got, string(l)) }, func() {})
		}
		// logrotate copies and truncates now, and the writer goes on.
		b, _ := os.ReadFile(p)
		os.WriteFile(p+".1", b, 0o644)
		os.Truncate(p, 0)
		appendTo(t, p, numbered(100, 110))
		st := run.Finish()
		run.Close()
		r.st = &st
		want(t, got, 1, 5)
		want(t, r.run(), 100, 110)
	}
}

// A FIFO under the log's name is refused at once: opening it for reading
// would wait for a writer.
func TestFIFOIsRefusedWithoutBlocking(t *testing.T) {
	p, _ := setup(t)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		testenv.Skip(t, "mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		run, err := Open(p, nil, Options{})
		if run != nil {
			run.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "FIFO") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Open blocked on a FIFO")
	}
}

// A FIFO named like a rotation beside the log is never opened.
func TestFIFOBesideTheLogIsIgnored(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 3))
	want(t, r.run(), 0, 3)
	if err := syscall.Mkfifo(p+".1", 0o644); err != nil {
		testenv.Skip(t, "mkfifo: %v", err)
	}
	os.Truncate(p, 0) // a copytruncate: the copy is looked for among the siblings
	appendTo(t, p, numbered(3, 5))
	done := make(chan []string, 1)
	go func() { done <- r.run() }()
	select {
	case got := <-done:
		want(t, got, 3, 5)
	case <-time.After(30 * time.Second):
		t.Fatal("the run blocked on a FIFO beside the log")
	}
}

// A rename undone: the rotated file comes back under the log's name and is
// resumed where it was left, not read again from its start.
func TestRotatedFileBackUnderTheName(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 110))
	want(t, r.run(), 0, 110)
	os.Rename(p, p+".1")
	appendTo(t, p, numbered(110, 112))
	want(t, r.run(), 110, 112)
	// Undone: the new file is dropped and the old one renamed back.
	os.Rename(p+".1", p)
	appendTo(t, p, numbered(112, 115))
	want(t, r.run(), 112, 115)
	appendTo(t, p, numbered(115, 116))
	want(t, r.run(), 115, 116)
}

// A symlink pointed to another file and back, the targets in another
// directory: the first target is remembered and resumed.
func TestSymlinkPointedBack(t *testing.T) {
	dir := t.TempDir()
	targets := t.TempDir()
	a, b := filepath.Join(targets, "a.log"), filepath.Join(targets, "b.log")
	p := filepath.Join(dir, "access.log")
	r := &reader{t: t, path: p, opt: Options{FromStart: true}}
	appendTo(t, a, numbered(0, 100))
	appendTo(t, b, numbered(1000, 1001))
	if err := os.Symlink(a, p); err != nil {
		t.Fatal(err)
	}
	want(t, r.run(), 0, 100)
	os.Remove(p)
	os.Symlink(b, p)
	want(t, r.run(), 1000, 1001)
	appendTo(t, a, numbered(100, 103))
	os.Remove(p)
	os.Symlink(a, p)
	want(t, r.run(), 100, 103)
}

// copytruncate where the regrown log begins with the same bytes as the old
// one (lines without timestamps): the bytes before the offset differ.
func TestCopyTruncateWithTheSameHead(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	r.maxLine, r.bufSize = 100, 4096
	health := strings.Repeat("GET /health status=200\n", 400) // 9,200 bytes
	appendTo(t, p, health+numbered(0, 100))
	got := r.run()
	if len(got) != 500 {
		t.Fatalf("read %d lines", len(got))
	}
	appendTo(t, p, numbered(100, 110))
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".1", b, 0o644)
	os.Truncate(p, 0)
	appendTo(t, p, health+numbered(200, 1300)) // past the old offset
	got = r.run()
	if len(got) != 10+400+1100 {
		t.Fatalf("read %d lines, want %d", len(got), 10+400+1100)
	}
	want(t, got[:10], 100, 110)
	want(t, got[410:], 200, 1300)
}

// A state with impossible values is set aside with a note; the run goes on.
func TestImpossibleStateRecovers(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 10))
	want(t, r.run(), 0, 10)
	r.st.Current.Offset = -5
	appendTo(t, p, numbered(10, 12))
	if got := r.run(); len(got) != 0 {
		t.Fatalf("read %d lines from a state set aside (start at the end)", len(got))
	}
	if len(r.notes) != 1 || !strings.Contains(r.notes[0], "negative offset -5") {
		t.Fatalf("notes: %q", r.notes)
	}
	appendTo(t, p, numbered(12, 14))
	want(t, r.run(), 12, 14)
}

// copytruncate of a log whose lines are all alike: its content cannot tell
// the regrown log from an append, but the copy, larger than the log now,
// shows that the log shrank.
func TestCopyTruncateOfIdenticalLines(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	r.maxLine, r.bufSize = 100, 4096
	health := func(n int) string { return strings.Repeat("GET /health status=200\n", n) }
	appendTo(t, p, health(1000))
	if got := r.run(); len(got) != 1000 {
		t.Fatalf("read %d lines", len(got))
	}
	appendTo(t, p, health(500)) // 1,500 lines when copied
	time.Sleep(20 * time.Millisecond)
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".1", b, 0o644)
	os.Truncate(p, 0)
	appendTo(t, p, health(1200)) // past the old offset, smaller than the copy
	if got := r.run(); len(got) != 500+1200 {
		t.Fatalf("read %d lines, want %d (500 from the copy, 1,200 regrown)", len(got), 1700)
	}
	appendTo(t, p, health(3))
	if got := r.run(); len(got) != 3 {
		t.Fatalf("then read %d lines, want 3", len(got))
	}
}

// A copy of the log taken without truncating it (a backup) is no sign of a
// truncation: the log is larger than its copy.
func TestPlainCopyBesideTheLogIsNotATruncation(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 10))
	want(t, r.run(), 0, 10)
	appendTo(t, p, numbered(10, 12))
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".bak", b, 0o644)
	appendTo(t, p, numbered(12, 13))
	want(t, r.run(), 10, 13)
}

// SamePlace: every position counts, LastRun does not.
func TestSamePlace(t *testing.T) {
	base := func() State {
		return State{
			Path:     "/l",
			Current:  Position{Dev: 1, Inode: 2, Offset: 30, Fingerprint: "f", FPLen: 30},
			Rotated:  []Rotated{{Path: "/l.1", Position: Position{Inode: 3, Offset: 9}, LastSeen: time.Unix(100, 0)}},
			LastRun:  time.Unix(200, 0),
			Siblings: []Sibling{{Inode: 3, Born: 4}},
		}
	}
	a := base()
	if b := base(); !a.SamePlace(b) {
		t.Fatal("equal states differ")
	}
	b := base()
	b.LastRun = time.Unix(260, 0)
	b.Rotated[0].LastSeen = time.Unix(100, 0).UTC()
	if !a.SamePlace(b) {
		t.Fatal("states that differ in LastRun only (and a time's location) differ")
	}
	for name, change := range map[string]func(*State){
		"path":           func(s *State) { s.Path = "/m" },
		"offset":         func(s *State) { s.Current.Offset++ },
		"inode":          func(s *State) { s.Current.Inode++ },
		"tail":           func(s *State) { s.Current.TailFingerprint = "t" },
		"long line":      func(s *State) { s.Current.InLongLine = true },
		"rotated offset": func(s *State) { s.Rotated[0].Position.Offset++ },
		"rotated seen":   func(s *State) { s.Rotated[0].LastSeen = time.Time{} },
		"rotated gone":   func(s *State) { s.Rotated = nil },
		"sibling":        func(s *State) { s.Siblings[0].Born++ },
		"siblings none":  func(s *State) { s.Siblings = []Sibling{} },
		"siblings nil":   func(s *State) { s.Siblings = nil },
	} {
		c := base()
		change(&c)
		if a.SamePlace(c) || c.SamePlace(a) {
			t.Errorf("%s: a change not seen", name)
		}
	}
	e1, e2 := State{Path: "/l", Siblings: []Sibling{}}, State{Path: "/l"}
	if e1.SamePlace(e2) {
		t.Error("no siblings and siblings unknown (a state from before they were kept) are the same place")
	}
}

// A rotated log compressed away before the next run is reported once, not
// by every run that still remembers it.
func TestRotatedNotFoundSaidOnce(t *testing.T) {
	p, r := setup(t)
	r.opt.FromStart = true
	appendTo(t, p, numbered(0, 5))
	want(t, r.run(), 0, 5)
	appendTo(t, p, numbered(5, 7))
	os.Rename(p, p+".1")
	os.Remove(p + ".1") // compressed: another inode under another name
	appendTo(t, p, numbered(100, 102))
	want(t, r.run(), 100, 102)
	if len(r.notes) != 1 || !strings.Contains(r.notes[0], "not found") {
		t.Fatalf("notes: %q", r.notes)
	}
	for i := range 3 {
		appendTo(t, p, numbered(102+i, 103+i))
		want(t, r.run(), 102+i, 103+i)
	}
	if len(r.notes) != 1 {
		t.Errorf("said again by later runs: %q", r.notes)
	}
	// The rotated file is still remembered: were it back, it would resume.
	if len(r.st.Rotated) != 1 || !r.st.Rotated[0].Reported {
		t.Errorf("rotated state %+v", r.st.Rotated)
	}
}
