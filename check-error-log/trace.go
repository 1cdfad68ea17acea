package main

import (
	"bytes"
	"regexp"
)

// Java and Python write a trace whose lines are not all indented: Java's
// exception line after the logger's own line, "Caused by: …", Python's
// "Traceback (most recent call last):" and the exception line that ends it.
// These recognise them, so that they stay with the entry they belong to.

var (
	// javaThrowable is an exception's first line as printStackTrace writes
	// it: a qualified class name, optionally ": message".
	javaThrowable = regexp.MustCompile(`^(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?:Exception|Error|Throwable|Failure)(?::.*)?$`)
	// javaFrameRest is a frame or an elision written without its tab.
	javaFrameRest = regexp.MustCompile(`^(?:at [\w$./<>-]+\(.*\)|\.\.\. \d+ (?:more|common frames omitted))$`)
)

const pyTraceHead = "Traceback (most recent call last):"

// pyChains are the lines Python writes between the tracebacks of chained
// exceptions.
var pyChains = [][]byte{
	[]byte("During handling of the above exception, another exception occurred:"),
	[]byte("The above exception was the direct cause of the following exception:"),
}

func isPyTraceHead(line []byte) bool { return bytes.HasPrefix(line, []byte(pyTraceHead)) }

func isPyChain(line []byte) bool {
	for _, c := range pyChains {
		if bytes.HasPrefix(line, c) {
			return true
		}
	}
	return false
}

func isJavaThrowable(line []byte) bool {
	// Most lines are not: a class name has a dot and no space before the
	// colon that ends it. The regexp runs only when that holds.
	name := line
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name = line[:i]
	}
	if len(name) == 0 || bytes.IndexByte(name, ' ') >= 0 || bytes.IndexByte(name, '\t') >= 0 || bytes.IndexByte(name, '.') < 0 {
		return false
	}
	return javaThrowable.Match(line)
}

// isJavaFrameRest reports a frame or an elision written without its tab.
func isJavaFrameRest(line []byte) bool {
	return (bytes.HasPrefix(line, []byte("at ")) || bytes.HasPrefix(line, []byte("... "))) && javaFrameRest.Match(line)
}

// traceContinues reports whether an unindented line continues the current
// entry as a Java or Python trace, and notes where in a Python traceback the
// assembler is.
func (a *assembler) traceContinues(line []byte) bool {
	switch {
	case a.pyTrace:
		// Within a traceback every frame is indented: the first line that is
		// not is the exception, which ends it.
		a.pyTrace, a.pyChained = false, false
		a.pyException(line)
		return true
	case isPyChain(line):
		a.pyChained = true
		return true
	case isPyTraceHead(line):
		// Right after the logger's line (logging.exception), or after a
		// chain line; a traceback after a finished one is another crash.
		if a.followers == 0 || a.pyChained {
			a.pyTrace, a.pyChained = true, false
			return true
		}
		return false
	case bytes.HasPrefix(line, []byte("Caused by: ")), isJavaFrameRest(line):
		return true
	case a.followers == 0 && !a.headThrowable && isJavaThrowable(line):
		// The exception a logger prints on the line after its message.
		return true
	}
	return false
}

// pyException takes the exception line of a traceback. An entry that began
// with the traceback itself (an uncaught exception on stderr) is named and
// matched by its first exception line: the head says nothing.
func (a *assembler) pyException(line []byte) {
	if !a.pending {
		return
	}
	a.pending = false
	if !a.match(line) {
		a.cur = nil
		return
	}
	a.cur.key = string(line)
}
