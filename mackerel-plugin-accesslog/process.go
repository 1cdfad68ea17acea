package main

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

type chunk struct {
	buf, lines []byte
	parser     namedParser
}

// process reads every segment of every file in order and parses the lines on
// all workers at once: the reading goroutine only cuts chunks at newlines.
func (rn *runner) process(frs []*fileRun) (*stats, error) {
	var planned int64
	for _, fr := range frs {
		for _, seg := range fr.run.Segments {
			planned += seg.End - seg.Start
		}
	}
	workers := rn.opts.Workers
	if workers <= 0 {
		// One per CPU for a large read; a per-minute increment is parsed
		// by the reading goroutine alone, which costs less CPU in all.
		workers = runtime.GOMAXPROCS(0)
		if planned < inlineBelow {
			workers = 1
		}
	}
	results := make([]*worker, workers)
	for i := range results {
		results[i] = &worker{rn: rn}
		results[i].st.all.reqTime, results[i].st.all.upstream = newDenseHistogram(), newDenseHistogram()
	}
	get, put, wait := rn.pipeline(results)
	var overlong uint64
	var readErr error
	for _, fr := range frs {
		for _, seg := range fr.run.Segments {
			if seg.Start >= seg.End {
				continue // nothing to read: the segment keeps its offset
			}
			putLines := func(buf, lines []byte) { put(buf, lines, fr.parser) }
			err := tail.Chunks(seg, get, putLines, rn.opts.MaxLineBytes, func() { overlong++ })
			if err != nil && readErr == nil {
				readErr = err
			}
		}
	}
	wait()
	if readErr != nil {
		return nil, readErr
	}
	total := &stats{overlong: overlong}
	var firstBad *worker
	for _, w := range results {
		total.merge(&w.st)
		if w.badExample != "" && firstBad == nil {
			firstBad = w
		}
	}
	if total.malformed > 0 && firstBad != nil {
		rn.warn("%d malformed lines skipped (not %s format?); first: %s: %q", total.malformed, firstBad.badFormat, firstBad.badErr, firstBad.badExample)
	}
	if total.overlong > 0 {
		rn.warn("%d lines longer than --max-line-bytes %d skipped", total.overlong, rn.opts.MaxLineBytes)
	}
	return total, nil
}

// pipeline returns the buffers' source and sink for tail.Chunks, and a wait
// that returns once every chunk is parsed. One worker parses in the reading
// goroutine, with a single buffer; several take chunks from a channel, with
// buffers made as the reader needs them, so a small run touches little
// memory.
func (rn *runner) pipeline(workers []*worker) (get func() []byte, put func(buf, lines []byte, p namedParser), wait func()) {
	size := chunkSize + rn.opts.MaxLineBytes
	if len(workers) == 1 {
		var buf []byte
		get = func() []byte {
			if buf == nil {
				buf = make([]byte, size)
			}
			return buf
		}
		return get, func(_, lines []byte, p namedParser) { workers[0].lines(lines, p) }, func() {}
	}
	nbuf := len(workers) + 2
	free := make(chan []byte, nbuf)
	work := make(chan chunk, nbuf)
	made := 0
	get = func() []byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if made < nbuf {
			made++
			return make([]byte, size)
		}
		return <-free
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				w.lines(c.lines, c.parser)
				free <- c.buf
			}
		}()
	}
	put = func(buf, lines []byte, p namedParser) { work <- chunk{buf, lines, p} }
	return get, put, func() {
		close(work)
		wg.Wait()
	}
}

// worker parses lines into its own stats; the run merges them at the end.
type worker struct {
	rn         *runner
	st         stats
	rec        Record
	badErr     error
	badExample string
	badFormat  string
}

func (w *worker) lines(b []byte, p namedParser) {
	maxLine := w.rn.opts.MaxLineBytes
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) // never happens: chunks hold whole lines
		}
		line := b[:i]
		if i < len(b) {
			b = b[i+1:]
		} else {
			b = nil
		}
		if len(line) > maxLine {
			w.st.overlong++
			continue
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		w.line(line, p)
	}
}

func (w *worker) line(line []byte, p namedParser) {
	r := &w.rec
	r.Reset()
	err := p.Parse(line, r)
	if err == nil && (r.Status < 100 || r.Status > 599) {
		err = errBadStatus
	}
	if err != nil {
		w.st.malformed++
		if w.badExample == "" {
			w.badErr, w.badExample, w.badFormat = err, printable(line, 120), p.name
		}
		return
	}
	w.st.all.add(r)
	if g := w.groupOf(r); g != nil {
		g.add(r)
	}
}

// groupOf returns the counts of the line's group: the --group-by field's raw
// value (made a metric name at output), or the first --group whose regex
// matches the path; nil when not grouping.
func (w *worker) groupOf(r *Record) *counts {
	rn := w.rn
	switch {
	case rn.opts.GroupBy != "":
		if !r.HasGroupValue || len(r.GroupValue) == 0 {
			return w.st.group(noneGroup)
		}
		if g := w.st.groups[string(r.GroupValue)]; g != nil { // no allocation on a hit
			return g
		}
		if len(w.st.groups) >= maxTrackedGroups {
			return w.st.group(otherGroup)
		}
		return w.st.group(string(r.GroupValue))
	case len(rn.groups) > 0:
		for _, g := range rn.groups {
			if g.re.Match(r.Path) {
				return w.st.group(g.name)
			}
		}
		return w.st.group(otherGroup)
	}
	return nil
}

const noneGroup = "none"

// printable shortens a line for a message and makes binary bytes visible.
func printable(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
