package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// setGetExpiration is the life of the test key, in seconds, should the
// delete after the read not happen.
const setGetExpiration = 60

// run is the whole check for parsed options.
func run(o options) check.Result {
	if err := o.Thresholds.Validate(); err != nil {
		return check.Result{Status: check.Unknown, Message: err.Error()}
	}
	network, addr, err := o.address()
	if err != nil {
		return check.Result{Status: check.Unknown, Message: err.Error()}
	}
	timeout := o.Timeout.D()
	onTimeout := func() check.Result {
		return o.Failure(fmt.Errorf("%s did not answer within %s", addr, timeout))
	}
	return check.Run(timeout, onTimeout, func(ctx context.Context) check.Result {
		st, server, err := fetchStats(ctx, network, addr)
		if err != nil {
			return failure(o, ctx, err, addr, "stats", timeout)
		}
		r := o.Thresholds.Judge(st.Uptime)
		parts := []string{r.Message}
		if st.Version != "" {
			parts = append(parts, "version "+st.Version)
		}
		if st.hasConnections {
			parts = append(parts, fmt.Sprintf("curr_connections %d", st.CurrConnections))
		}
		if o.SetGet {
			if err := setGet(ctx, server, timeout); err != nil {
				f := failure(o, ctx, err, addr, "set/get", timeout)
				// The failure leads: it is why the status is what it is.
				r.Status = check.Worst(r.Status, f.Status)
				parts = append([]string{"set/get failed: " + strings.TrimPrefix(f.Message, addr+": ")}, parts...)
			} else {
				parts = append(parts, "set/get ok")
			}
		}
		r.Message = strings.Join(append(parts, addr), ", ")
		return r
	})
}

// failure turns an error into the result: a reply that is not memcached's
// (or a memcached error reply) is CRITICAL; not reaching the server at all,
// or silence until the deadline, gets --error-status.
func failure(o options, ctx context.Context, err error, addr, what string, timeout time.Duration) check.Result {
	var re *replyError
	if errors.As(err, &re) {
		return check.Resultf(check.Critical, "%s: %v", addr, err)
	}
	if ctx.Err() != nil || isTimeout(err) {
		return o.Failure(fmt.Errorf("%s did not answer %s within %s", addr, what, timeout))
	}
	var de *dialError
	if errors.As(err, &de) {
		return o.Failure(fmt.Errorf("cannot connect to %s: %v", addr, de.err))
	}
	return o.Failure(fmt.Errorf("%s: %s: %v", addr, what, err))
}

func isTimeout(err error) bool {
	var ne net.Error
	var cte *memcache.ConnectTimeoutError
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) || errors.As(err, &cte)
}

// isNetworkFailure tells a broken or silent connection from an answer.
func isNetworkFailure(err error) bool {
	var ne net.Error
	return isTimeout(err) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, context.Canceled)
}

// setGetError names the step that failed; an answer from the server (an
// error reply, a miss, another value) becomes a replyError, so CRITICAL.
func setGetError(step string, err error) error {
	if isNetworkFailure(err) {
		return fmt.Errorf("%s: %w", step, err)
	}
	return replyErrorf("%s: %v", step, err)
}

// setGet sets a random key with a random value, reads it back, compares and
// deletes it, through gomemcache, before ctx's deadline. server is the
// address that answered stats (an IP address, so no second name lookup, or
// an absolute socket path, which gomemcache recognises by its "/").
func setGet(ctx context.Context, server string, timeout time.Duration) error {
	limit, ok := ctx.Deadline()
	if !ok {
		limit = time.Now().Add(timeout)
	}
	if time.Until(limit) <= 0 {
		return context.DeadlineExceeded
	}
	c := memcache.New(server)
	c.Timeout = time.Until(limit)
	c.MaxIdleConns = 1
	c.DialContext = func(_ context.Context, network, address string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return deadlineConn{Conn: conn, limit: limit}, nil
	}
	defer c.Close()

	key := "check-memcached-uptime:" + randomHex(12)
	value := randomHex(16)
	if err := c.Set(&memcache.Item{Key: key, Value: []byte(value), Expiration: setGetExpiration}); err != nil {
		return setGetError("set", err)
	}
	it, err := c.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return replyErrorf("get: the key set a moment ago is missing")
	}
	if err != nil {
		return setGetError("get", err)
	}
	if string(it.Value) != value {
		return replyErrorf("get: read back %s, not the value set", quoted(string(it.Value)))
	}
	if err := c.Delete(key); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return setGetError("delete", err)
	}
	return nil
}

// deadlineConn keeps gomemcache, which sets a fresh deadline before each
// command, within the check's own deadline.
type deadlineConn struct {
	net.Conn
	limit time.Time
}

func (c deadlineConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c deadlineConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c deadlineConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// gomemcacheServer is how gomemcache must be given the address that
// answered: an absolute socket path (it takes a name with "/" for a socket).
func gomemcacheServer(network string, conn net.Conn, addr string) string {
	if network == "unix" {
		if abs, err := filepath.Abs(addr); err == nil {
			return abs
		}
		return addr
	}
	return conn.RemoteAddr().String()
}
