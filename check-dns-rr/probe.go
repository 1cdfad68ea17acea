package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// probeResult is whether one member answered, and why not.
type probeResult struct {
	addr netip.Addr
	err  error
}

// prober checks members on a TCP port, or with an HTTP GET when path is set.
type prober struct {
	port int
	path string
	host string // Host header for HTTP: the name checked
}

func (p prober) describe() string {
	if p.path != "" {
		return fmt.Sprintf("HTTP GET :%d%s", p.port, p.path)
	}
	return fmt.Sprintf("TCP :%d", p.port)
}

// probeAll probes every member concurrently and returns results in the
// order of addrs.
func (p prober) probeAll(ctx context.Context, addrs []netip.Addr) []probeResult {
	out := make([]probeResult, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { out[i] = probeResult{addr: a, err: p.probe(ctx, a)} })
	}
	wg.Wait()
	return out
}

func (p prober) probe(ctx context.Context, a netip.Addr) error {
	if err := unreachableMember(a); err != nil {
		return err
	}
	target := net.JoinHostPort(a.String(), strconv.Itoa(p.port))
	var d net.Dialer
	if p.path == "" {
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return shortNetErr(err)
		}
		return c.Close()
	}
	tr := &http.Transport{
		Proxy:             nil, // the member itself, never a proxy from the environment
		DialContext:       d.DialContext,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+p.path, nil)
	if err != nil {
		return err
	}
	req.Host = strings.TrimSuffix(p.host, ".")
	req.Header.Set("User-Agent", "check-dns-rr")
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return shortNetErr(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 || resp.StatusCode < 200 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// unreachableMember refuses addresses a probe must not count as alive: a
// connection to 0.0.0.0 or :: reaches this host, not a member, and a
// multicast or broadcast address is no server at all.
func unreachableMember(a netip.Addr) error {
	switch {
	case a.IsUnspecified():
		return errors.New("not a member's address: a connection to it reaches this host")
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return errors.New("a multicast or broadcast address, not a member's")
	}
	return nil
}

// shortNetErr keeps the reason of a network error without repeating the
// address, which the message already names.
func shortNetErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		msg := oe.Err.Error()
		if oe.Timeout() {
			msg = "timeout"
		}
		return errors.New(strings.TrimPrefix(msg, "connect: "))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timeout")
	}
	return err
}
