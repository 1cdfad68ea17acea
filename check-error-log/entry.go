package main

import (
	"bytes"
	"regexp"
)

// An entry is one logged error: its first line and the lines that belong to
// it (a PHP "Stack trace:" block, a Go panic's goroutine dump, a Java or
// Python trace, an indented continuation).
type entry struct {
	head string
	// key, when set, names the entry instead of its head: the exception
	// line of a Python traceback that is its own first line.
	key   string
	trace []string
	// more counts trace lines beyond maxTraceLines, kept out of memory.
	more int
}

// assembler cuts a stream of lines into entries and hands the matching ones
// to emit. It is fed whole lines without their newline.
type assembler struct {
	match         func(head []byte) bool
	emit          func(e *entry)
	maxTraceLines int
	maxLineBytes  int // a kept trace line is cut to this many bytes

	cur       *entry // the entry being assembled, nil when skipping one
	inEntry   bool   // a head was seen (matching or not): its continuations follow
	goPanic   bool   // the head began a Go panic: its dump has unindented lines
	followers int    // lines that continued the current entry
	blanks    int    // blank lines after the entry's last line, not yet known to belong

	headThrowable bool // the head is a Java exception line itself
	pyTrace       bool // within a Python traceback's frames
	pyChained     bool // after "During handling of the above exception…"
	pending       bool // a bare Python traceback, matched on its exception line
}

// feed takes one line.
func (a *assembler) feed(line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(bytes.TrimSpace(line)) == 0 {
		// Blank lines separate a PHP exception from the next in its chain
		// and a panic's goroutines: whether they belong to the entry is
		// known at the next line that is not blank.
		if a.inEntry {
			a.blanks++
		}
		return
	}
	if a.inEntry && a.continues(line) {
		a.followers++
		if a.cur != nil {
			for ; a.blanks > 0; a.blanks-- {
				a.addTrace(nil)
			}
			a.addTrace(line)
		}
		a.blanks = 0
		return
	}
	a.flush()
	a.inEntry = true
	a.goPanic = isGoPanicHead(line)
	a.headThrowable = isJavaThrowable(line)
	a.pyTrace = isPyTraceHead(line)
	switch {
	case a.match(line):
		a.cur = &entry{head: string(line)}
	case a.pyTrace:
		a.cur, a.pending = &entry{head: string(line)}, true
	}
}

func (a *assembler) addTrace(line []byte) {
	if len(a.cur.trace) >= a.maxTraceLines {
		a.cur.more++
		return
	}
	if len(line) > a.maxLineBytes {
		line = line[:a.maxLineBytes]
	}
	a.cur.trace = append(a.cur.trace, string(line))
}

// flush ends the entry being assembled.
func (a *assembler) flush() {
	if a.cur != nil && !a.pending {
		a.emit(a.cur)
	}
	a.cur, a.inEntry, a.goPanic, a.followers, a.blanks = nil, false, false, 0, 0
	a.headThrowable, a.pyTrace, a.pyChained, a.pending = false, false, false, false
}

var (
	goFrame   = regexp.MustCompile(`^[\w./*()\[\]-]+\(.*\)$`)
	goRuntime = [][]byte{
		[]byte("goroutine "), []byte("[signal "), []byte("created by "), []byte("exit status "),
		[]byte("...additional frames elided..."), []byte("panic: "), []byte("fatal error: "),
	}
)

// continues reports whether line belongs to the current entry.
func (a *assembler) continues(line []byte) bool {
	switch {
	case line[0] == ' ' || line[0] == '\t':
		return true
	case a.pyTrace:
		return a.traceContinues(line)
	case bytes.HasPrefix(line, []byte("Stack trace:")), bytes.HasPrefix(line, []byte("Next ")),
		isPHPFrame(line), isPrefixedPHPTrace(line):
		return true
	}
	if !a.goPanic {
		return a.traceContinues(line)
	}
	for _, p := range goRuntime {
		if bytes.HasPrefix(line, p) {
			return !a.startsNewPanic(line, p)
		}
	}
	return goFrame.Match(line)
}

// startsNewPanic: a "panic: " or "fatal error: " line after a dump has begun
// is another crash (a restarted program crashing again).
func (a *assembler) startsNewPanic(line, prefix []byte) bool {
	isHead := bytes.Equal(prefix, []byte("panic: ")) || bytes.Equal(prefix, []byte("fatal error: "))
	return isHead && a.followers > 0
}

// isPHPFrame reports whether line is a frame of a PHP stack trace: "#12 …".
func isPHPFrame(line []byte) bool {
	if len(line) < 3 || line[0] != '#' {
		return false
	}
	i := 1
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	return i > 1 && i < len(line) && line[i] == ' '
}

// isPrefixedPHPTrace reports whether line is a trace line that PHP (with
// Xdebug, or the CLI) writes with the log's timestamp prefix:
// "[01-Dec-2026 11:00:13 UTC] PHP Stack trace:", "[…] PHP   2. f() /a.php:12".
func isPrefixedPHPTrace(line []byte) bool {
	if len(line) == 0 || line[0] != '[' {
		return false
	}
	i := bytes.Index(line, []byte("] PHP "))
	if i < 0 || i > 64 {
		return false
	}
	rest := line[i+len("] PHP "):]
	if bytes.HasPrefix(rest, []byte("Stack trace:")) {
		return true
	}
	rest = bytes.TrimLeft(rest, " ")
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	return j > 0 && bytes.HasPrefix(rest[j:], []byte(". "))
}

func isGoPanicHead(line []byte) bool {
	return bytes.HasPrefix(line, []byte("panic: ")) || bytes.HasPrefix(line, []byte("fatal error: "))
}
