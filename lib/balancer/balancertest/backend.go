// Package balancertest starts real load balancers for tests: stock nginx with
// the Lua drop-in from nginx/ (the ngx_dynamic_upstream API), the same nginx
// with the real ngx_dynamic_upstream module (built once from
// ../shared/third_party, see DynamicUpstreamModule), HAProxy with an admin
// stats socket, and small HTTP backends on loopback ports to put behind
// them. Every process is stopped by PID when the test ends; a missing server
// binary skips the test (fails it under CI=true), as testenv does.
package balancertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// Backend is a small HTTP server on a loopback port. It answers every
// request with its own address and a newline; `?sleep=DURATION` (at most
// 30s) delays the answer, to keep a request in flight; `?status=N` answers
// with that HTTP status.
type Backend struct {
	Addr     string // 127.0.0.1:PORT, or [::1]:PORT (StartBackends6)
	hits     atomic.Int64
	inFlight atomic.Int64

	mu  sync.Mutex
	srv *http.Server
}

// StartBackends starts n backends and stops them when the test ends.
func StartBackends(t testing.TB, n int) []*Backend {
	t.Helper()
	out := make([]*Backend, n)
	for i := range out {
		out[i] = StartBackend(t)
	}
	return out
}

// StartBackends6 starts n backends on the IPv6 loopback, [::1]. It skips
// the test (fails it under CI=true) when the machine has no IPv6 loopback.
func StartBackends6(t testing.TB, n int) []*Backend {
	t.Helper()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		testenv.Skip(t, "no IPv6 loopback: listen on [::1]: %v", err)
	}
	l.Close()
	out := make([]*Backend, n)
	for i := range out {
		out[i] = startBackendOn(t, "[::1]:0")
	}
	return out
}

// StartBackend starts one backend and stops it when the test ends.
func StartBackend(t testing.TB) *Backend {
	t.Helper()
	return startBackendOn(t, "127.0.0.1:0")
}

func startBackendOn(t testing.TB, listen string) *Backend {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("backend listen: %v", err)
	}
	b := &Backend{Addr: l.Addr().String()}
	b.serveOn(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		b.mu.Lock()
		srv := b.srv
		b.mu.Unlock()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
	return b
}

func (b *Backend) serveOn(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(l)
}

// Reopen starts a closed backend again on the same address (an app that
// came back after a restart), retrying the bind for up to 10 s.
func (b *Backend) Reopen(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", b.Addr)
		if err == nil {
			b.serveOn(l)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %s: listen again: %v", b.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	if s := r.URL.Query().Get("sleep"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > 30*time.Second {
			http.Error(w, "bad sleep", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	if s := r.URL.Query().Get("status"); s != "" {
		code, err := strconv.Atoi(s)
		if err != nil || code < 200 || code > 599 {
			http.Error(w, "bad status", http.StatusBadRequest)
			return
		}
		w.WriteHeader(code)
	}
	fmt.Fprintln(w, b.Addr)
}

// Hits is the number of requests the backend has received.
func (b *Backend) Hits() int64 { return b.hits.Load() }

// InFlight is the number of requests being answered now.
func (b *Backend) InFlight() int64 { return b.inFlight.Load() }

// Close stops the backend now (a server that died); cleanup is still safe.
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.srv.Close()
}

// Addrs returns the backends' addresses.
func Addrs(bs []*Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr
	}
	return out
}

// Get sends one GET to url with a timeout and returns the status and body.
func Get(ctx context.Context, url string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}

// Port returns the port of an "IP:port" address.
func Port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
