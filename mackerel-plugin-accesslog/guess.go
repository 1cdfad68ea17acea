package main

import (
	"bytes"
	"os"
)

// namedParser is a parser with the format name it reads, for messages.
type namedParser struct {
	name string
	Parser
}

// guessSample is how much of a file's start is read to guess its format.
const guessSample = 64 << 10

// guessFormat picks the format of one log, as mackerelio's plugin does when
// --format is not given: the first of cands that parses one of the first
// complete lines of the file. ok is false when no line of the sample parses
// (or the file is empty); cands[0] is returned then.
func guessFormat(f *os.File, cands []namedParser) (namedParser, bool) {
	buf := make([]byte, guessSample)
	n, _ := f.ReadAt(buf, 0)
	buf = buf[:n]
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	} else {
		buf = nil
	}
	var rec Record
	for len(buf) > 0 {
		line := buf
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			line, buf = buf[:i], buf[i+1:]
		} else {
			buf = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		for _, c := range cands {
			// The JSON parser may unescape in place: parse a copy.
			rec.Reset()
			if err := c.Parse(bytes.Clone(line), &rec); err == nil && rec.Status >= 100 && rec.Status <= 599 {
				return c, true
			}
		}
	}
	return cands[0], false
}
