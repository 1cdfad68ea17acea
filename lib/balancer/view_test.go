package balancer

import "testing"

func TestSameAddr(t *testing.T) {
	for _, c := range []struct {
		bal, cfg string
		want     bool
	}{
		{"10.0.0.1:80", "10.0.0.1:80", true},
		{"10.0.0.1:80", "10.0.0.1:81", false},
		{"10.0.0.1:80", "10.0.0.2:80", false},
		{"[2001:db8::1]:80", "[2001:db8:0:0::1]:80", true},
		{"[2001:db8::1]:80", "[2001:0db8:0000:0000:0000:0000:0000:0001]:80", true},
		{"[2001:db8::1]:80", "[2001:db8::2]:80", false},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80", true}, // Go prints a v4-mapped address as IPv4
		{"127.0.0.1:80", "localhost:80", true},
		{"127.0.0.1:80", "localhost:81", false},
		{"app1", "10.0.0.1:80", false},
		{"10.0.0.1:80", "", false},
	} {
		if got := SameAddr(c.bal, c.cfg); got != c.want {
			t.Errorf("SameAddr(%q, %q) = %v, want %v", c.bal, c.cfg, got, c.want)
		}
	}
}

func TestServing(t *testing.T) {
	for _, c := range []struct {
		s    Server
		want bool
	}{
		{Server{State: Up}, true},
		{Server{State: Up, Health: "UP 2/3"}, true},
		{Server{State: Up, Health: "no check"}, true},
		{Server{State: Up, Health: "DOWN"}, false},
		{Server{State: Draining}, false},
		{Server{State: Down, Health: "UP"}, false},
	} {
		if got := Serving(c.s); got != c.want {
			t.Errorf("Serving(%+v) = %v, want %v", c.s, got, c.want)
		}
	}
}
