package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// memcached's "stats" reply is "STAT <name> <value>\r\n" lines ending with
// "END\r\n" (about 2 KB from 1.6). These bounds stop a peer that streams
// without end long before the deadline would.
const (
	maxStatsReply = 256 << 10 // bytes
	maxStatsLines = 2000
	quoteLimit    = 60
)

// stats are the values the check reads from the reply.
type stats struct {
	Uptime          int64
	Version         string
	CurrConnections int64
	hasUptime       bool
	hasConnections  bool
	lines           int
}

// replyError is an answer that is not a usable memcached stats reply: the
// peer answered, but not as memcached does.
type replyError struct{ msg string }

func (e *replyError) Error() string { return e.msg }

func replyErrorf(format string, args ...any) error {
	return &replyError{msg: fmt.Sprintf(format, args...)}
}

// quoted shows what came back, shortened and escaped.
func quoted(b string) string {
	if len(b) > quoteLimit {
		return strconv.Quote(b[:quoteLimit]) + "…"
	}
	return strconv.Quote(b)
}

// parseStats reads a stats reply up to END. Anything else than memcached's
// reply gives a replyError that says what came back.
func parseStats(r io.Reader) (stats, error) {
	br := bufio.NewReaderSize(r, 4096)
	var st stats
	budget := maxStatsReply
	for {
		line, err := readLine(br, budget)
		if err != nil {
			return st, describeReadError(err, line, st)
		}
		budget -= len(line) + 2
		st.lines++
		if st.lines > maxStatsLines {
			return st, replyErrorf("stats reply longer than %d lines", maxStatsLines)
		}
		if line == "END" {
			if !st.hasUptime {
				return st, replyErrorf("the stats reply has no uptime")
			}
			return st, nil
		}
		name, value, ok := statLine(line)
		if !ok {
			return st, unexpectedLine(line, st.lines)
		}
		if err := st.set(name, value); err != nil {
			return st, err
		}
	}
}

// readLine reads one line ending in "\n" (a "\r" before it is dropped), of
// at most budget bytes. On an error it returns what it read with the error.
func readLine(br *bufio.Reader, budget int) (string, error) {
	var b strings.Builder
	for {
		frag, err := br.ReadSlice('\n')
		b.Write(frag)
		if b.Len() > budget {
			return b.String(), replyErrorf("stats reply larger than %d bytes", maxStatsReply)
		}
		switch {
		case err == nil:
			return strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), "\r"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return b.String(), err
		}
	}
}

func statLine(line string) (name, value string, ok bool) {
	rest, ok := strings.CutPrefix(line, "STAT ")
	if !ok {
		return "", "", false
	}
	name, value, ok = strings.Cut(rest, " ")
	return name, value, ok && name != ""
}

func (st *stats) set(name, value string) error {
	switch name {
	case "uptime":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			return replyErrorf("uptime %s is not a number of seconds", quoted(value))
		}
		st.Uptime, st.hasUptime = n, true
	case "version":
		st.Version = value
	case "curr_connections":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return replyErrorf("curr_connections %s is not a number", quoted(value))
		}
		st.CurrConnections, st.hasConnections = n, true
	}
	return nil
}

// unexpectedLine names what came back instead of a STAT line; on the first
// line it says what kind of server seems to be there.
func unexpectedLine(line string, n int) error {
	if n > 1 {
		return replyErrorf("unexpected line %d in the stats reply: %s", n, quoted(line))
	}
	switch {
	case strings.HasPrefix(line, "HTTP/"):
		return replyErrorf("an HTTP server answered: %s", quoted(line))
	case looksLikeHTML(line):
		return replyErrorf("an HTTP server answered with HTML: %s", quoted(line))
	case looksLikeMySQLGreeting(line):
		return replyErrorf("a MySQL server greeted: %s", quoted(line+"\n"))
	case line == "ERROR" || strings.HasPrefix(line, "ERROR ") ||
		strings.HasPrefix(line, "CLIENT_ERROR") || strings.HasPrefix(line, "SERVER_ERROR"):
		return replyErrorf("the server answered stats with %s", quoted(line))
	}
	return replyErrorf("not a memcached reply: %s", quoted(line))
}

// looksLikeHTML recognises an HTML page sent without a status line (an
// HTTP/0.9 answer, which is what some servers give to "stats").
func looksLikeHTML(line string) bool {
	l := strings.ToLower(strings.TrimSpace(line))
	return strings.HasPrefix(l, "<!doctype html") || strings.HasPrefix(l, "<html")
}

// looksLikeMySQLGreeting recognises the start of a MySQL handshake packet,
// which the server sends unasked: a 3-byte little-endian length, sequence
// number 0, then protocol version 10 (the "\n" that ended the line).
func looksLikeMySQLGreeting(line string) bool {
	if len(line) != 4 || line[3] != 0 {
		return false
	}
	n := int(line[0]) | int(line[1])<<8 | int(line[2])<<16
	return n >= 32 && n <= 1024
}

// describeReadError explains a read that ended before END: a closed
// connection or a reply cut short are replyErrors; silence until the
// deadline is passed through as the timeout it is.
func describeReadError(err error, partial string, st stats) error {
	var re *replyError
	if errors.As(err, &re) {
		return err
	}
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	closed := errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	switch {
	case !closed && !timeout:
		return err
	case st.lines == 0 && partial == "":
		if timeout {
			return err
		}
		return replyErrorf("the connection was closed without a reply to stats")
	case st.lines == 0:
		how := "then the connection was closed"
		if timeout {
			how = "then nothing more until the deadline"
		}
		if strings.HasPrefix(partial, "HTTP/") {
			return replyErrorf("an HTTP server answered: %s, %s", quoted(partial), how)
		}
		return replyErrorf("not a memcached reply: %s, %s", quoted(partial), how)
	case closed:
		return replyErrorf("the connection was closed before the end of the stats reply (after %d lines)", st.lines)
	}
	return replyErrorf("the stats reply stopped after %d lines and did not end before the deadline", st.lines)
}

// fetchStats dials, sends "stats" and reads the reply, all before the
// context's deadline. It also returns the address that answered, as
// gomemcache takes it.
func fetchStats(ctx context.Context, network, addr string) (stats, string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return stats{}, "", &dialError{err}
	}
	defer conn.Close()
	server := gomemcacheServer(network, conn, addr)
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// End every read and write at once if the context ends first.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := io.WriteString(conn, "stats\r\n"); err != nil {
		return stats{}, server, err
	}
	st, err := parseStats(conn)
	if err == nil {
		// Let the server close its side first; an error here changes nothing.
		io.WriteString(conn, "quit\r\n")
	}
	return st, server, err
}

// dialError is a failure to connect at all.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
