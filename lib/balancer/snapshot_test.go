package balancer

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// listed is a balancer that lists fixed servers, or fails.
type listed struct {
	name    string
	servers []Server
	err     error
}

func (l listed) Name() string                                { return l.name }
func (l listed) Upstreams() []string                         { return []string{"u"} }
func (l listed) ReportsActive() bool                         { return false }
func (l listed) List(context.Context) ([]Server, error)      { return l.servers, l.err }
func (l listed) Down(context.Context, string, string) error  { return errors.New("read only") }
func (l listed) Drain(context.Context, string, string) error { return errors.New("read only") }
func (l listed) Up(context.Context, string, string) error    { return errors.New("read only") }

// deploy-tool and the plugin read balancers through one view: an IPv6
// server written long in a config is the balancer's short form.
func TestSnapshotMatchesIPv6Forms(t *testing.T) {
	s, err := ReadAll(context.Background(), []Balancer{listed{name: "b", servers: []Server{
		{Upstream: "u", Addr: "[2001:db8::1]:80", State: Down},
		{Upstream: "u", Addr: "[2001:db8::2]:80", State: Up},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if up, known := s.UpOn("b", "[2001:db8:0:0::1]:80"); up || !known {
		t.Errorf("UpOn: up %v known %v, want a known server that is down", up, known)
	}
	if d := s.DownSomewhere("[2001:0db8::0001]:80"); len(d) != 1 || d[0] != "b/u (down)" {
		t.Errorf("DownSomewhere: %v", d)
	}
	if u := s.UpSomewhere("[2001:db8:0::2]:80"); len(u) != 1 || u[0] != "b" {
		t.Errorf("UpSomewhere: %v", u)
	}
	if up, known := s.UpOn("b", "[2001:db8::3]:80"); up || known {
		t.Errorf("UpOn of an unknown server: up %v known %v", up, known)
	}
}

// A balancer that cannot be read is named in the error and in Err, and
// left out of every answer; the others are still read.
func TestSnapshotKeepsWhatCouldBeRead(t *testing.T) {
	s, err := ReadAll(context.Background(), []Balancer{
		listed{name: "good", servers: []Server{{Upstream: "u", Addr: "127.0.0.1:1", State: Up}}},
		listed{name: "bad", err: errors.New("connection refused")},
	})
	if err == nil || !strings.Contains(err.Error(), "balancer bad: connection refused") {
		t.Fatalf("error %v: want the unreadable balancer named", err)
	}
	if got := strings.Join(s.Balancers(), ","); got != "good,bad" {
		t.Errorf("Balancers %s, want the given order", got)
	}
	if s.Err("good") != nil || s.Err("bad") == nil {
		t.Errorf("Err: good %v, bad %v", s.Err("good"), s.Err("bad"))
	}
	if len(s.Servers("good")) != 1 || s.Servers("bad") != nil {
		t.Errorf("Servers: good %v, bad %v", s.Servers("good"), s.Servers("bad"))
	}
}

// A server in rotation that fails HAProxy's health checks is not serving;
// AssumeServing is what a read shows once the given servers are back.
func TestSnapshotServing(t *testing.T) {
	s, _ := ReadAll(context.Background(), []Balancer{listed{name: "hap", servers: []Server{
		{Upstream: "app", Addr: "10.0.0.1:80", State: Up, Health: "UP"},
		{Upstream: "app", Addr: "10.0.0.2:80", State: Up, Health: "DOWN"},
		{Upstream: "app", Addr: "10.0.0.3:80", State: Down, Health: "MAINT"},
	}}})
	got := s.NotServing()
	if len(got) != 2 || !got["10.0.0.2:80"] || !got["10.0.0.3:80"] {
		t.Errorf("NotServing %v, want the failing and the down server", got)
	}
	back := s.AssumeServing([]string{"10.0.0.3:80"}).NotServing()
	if len(back) != 1 || !back["10.0.0.2:80"] {
		t.Errorf("after AssumeServing: NotServing %v, want only the failing server", back)
	}
	if len(s.NotServing()) != 2 {
		t.Error("AssumeServing changed the snapshot it was called on")
	}
	out := s.AssumeNotServing([]string{"10.0.0.1:80"}).NotServing()
	if len(out) != 3 || !out["10.0.0.1:80"] {
		t.Errorf("after AssumeNotServing: NotServing %v, want all three", out)
	}
	if len(s.NotServing()) != 2 {
		t.Error("AssumeNotServing changed the snapshot it was called on")
	}
}
