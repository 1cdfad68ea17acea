package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// serverStatus is what the check reads from the server.
type serverStatus struct {
	Uptime  int64
	Version string
}

// phase says how far a failed probe got, for the message.
type phase string

const (
	phaseConnect phase = "connecting and logging in"
	phaseQuery   phase = "querying the uptime"
)

// probeError is a failure with the phase it happened in.
type probeError struct {
	phase phase
	err   error
}

func (e *probeError) Error() string { return string(e.phase) + ": " + e.err.Error() }
func (e *probeError) Unwrap() error { return e.err }

// probe connects once and reads the uptime and the version. ctx bounds the
// whole exchange; the driver's own dial, read and write timeouts are a
// backstop, so that a server that accepts and never answers cannot hold it.
// They are a little longer than ctx's deadline: the driver reports its own
// read timeout as a bare "invalid connection", and that must not win the race
// against the deadline, whose error says what happened.
func probe(ctx context.Context, t target, timeout time.Duration) (serverStatus, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = t.Net, t.Addr
	cfg.User, cfg.Passwd = t.User, t.Password
	cfg.TLS, cfg.AllowFallbackToPlaintext = t.TLS, t.TLSFallback
	backstop := timeout + 150*time.Millisecond
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = backstop, backstop, backstop
	// Errors come back to us and go into the one output line; the driver's
	// own log lines on stderr would only repeat them.
	cfg.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return serverStatus{}, &probeError{phaseConnect, err}
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(1)

	conn, err := db.Conn(ctx)
	if err != nil {
		return serverStatus{}, &probeError{phaseConnect, err}
	}
	defer conn.Close()

	var st serverStatus
	var name, value string
	if err := conn.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &value); err != nil {
		return st, &probeError{phaseQuery, err}
	}
	if st.Uptime, err = strconv.ParseInt(value, 10, 64); err != nil {
		return st, &probeError{phaseQuery, fmt.Errorf("uptime %q is not a number", value)}
	}
	if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&st.Version); err != nil {
		return st, &probeError{phaseQuery, err}
	}
	return st, nil
}

// run is the whole check for parsed options. The defaults files and the CA
// file are read under the deadline too: a file on a hung mount must not hold
// the check past --timeout (special files are refused outright).
func run(o options, getenv func(string) string) check.Result {
	timeout := o.Timeout.D()
	var addr atomic.Pointer[string]
	onTimeout := func() check.Result {
		if a := addr.Load(); a != nil {
			return o.Failure(fmt.Errorf("%s did not answer within %s", *a, timeout))
		}
		return o.Failure(fmt.Errorf("the defaults files or --ca-file were not read within --timeout %s", timeout))
	}
	return check.Run(timeout, onTimeout, func(ctx context.Context) check.Result {
		t, err := o.resolve(getenv)
		if err != nil {
			return check.Result{Status: check.Unknown, Message: err.Error()}
		}
		addr.Store(&t.Addr)
		st, err := probe(ctx, t, timeout)
		if err != nil {
			return o.Failure(errors.New(redact(describe(ctx, err, t, timeout), t.Password)))
		}
		r := o.Thresholds.Judge(st.Uptime)
		r.Message += fmt.Sprintf(", version %s, %s", st.Version, t.Addr)
		return r
	})
}

// describe turns a probe error into the message: where, as whom, how far it
// got, and what the server or the network said.
func describe(ctx context.Context, err error, t target, timeout time.Duration) string {
	ph := phaseConnect
	var pe *probeError
	if errors.As(err, &pe) {
		ph = pe.phase
		err = pe.err
	}
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("%s did not answer within %s (%s)", t.Addr, timeout, ph)
	}
	var msg string
	if ph == phaseConnect {
		msg = fmt.Sprintf("cannot connect to %s as %s: %v", t.Addr, t.User, err)
	} else {
		msg = fmt.Sprintf("%s: %s failed: %v", t.Addr, ph, err)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch {
		case me.Number == 3159:
			msg += " (the server requires TLS: use --tls)"
		case me.Number == 1045 && t.TLS == nil:
			// MariaDB answers a plaintext login to a server that requires
			// secure transport with this error too.
			msg += " (without TLS: if the server requires it, use --tls)"
		}
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, mysql.ErrMalformPkt) {
		msg += " (is it a MySQL server?)"
	}
	return msg
}

// minRedactLength is the shortest password redact looks for. A shorter one
// matches by chance inside ordinary words and numbers ("root" in an address,
// "1" in a port), and replacing those would point at the secret instead of
// hiding it; the driver's messages do not echo the password anyway.
const minRedactLength = 6

// redact hides the password where it appears as a whole word of the message:
// never inside another word or number, so that the redaction itself cannot
// reveal which characters the password is made of.
func redact(msg, password string) string {
	if len(password) < minRedactLength {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, password)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := i + len(password)
		if wordChar(msg, i-1) || wordChar(msg, end) {
			b.WriteString(msg[:i+1])
			msg = msg[i+1:]
			continue
		}
		b.WriteString(msg[:i])
		b.WriteString("[password]")
		msg = msg[end:]
	}
}

// wordChar reports whether msg[i] exists and is a letter, digit or one of
// the characters that join words in addresses and names.
func wordChar(msg string, i int) bool {
	if i < 0 || i >= len(msg) {
		return false
	}
	c := msg[i]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c >= 0x80
}
