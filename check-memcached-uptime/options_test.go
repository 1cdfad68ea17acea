package main

import "testing"

func TestAddress(t *testing.T) {
	for want, o := range map[string]options{
		"127.0.0.1:11211": {},
		"127.0.0.1:21211": {Host: "127.0.0.1:21211"},
		"cache1:11211":    {Host: "cache1"},
		"cache1:1":        {Host: "cache1", Port: 1},
		"[::1]:11211":     {Host: "::1"},
		"[::1]:11212":     {Host: "[::1]:11212"},
		"[::1]:11213":     {Host: "[::1]", Port: 11213},
	} {
		if network, addr, err := o.address(); err != nil || network != "tcp" || addr != want {
			t.Errorf("%+v: %s %s %v, want %s", o, network, addr, err, want)
		}
	}
	for _, o := range []options{{Host: "a:1", Port: 2}, {Host: "a:0"}, {Host: "a:x"}, {Host: "a b"}, {Port: -1}, {Socket: "/s", Port: 1}} {
		if _, addr, err := o.address(); err == nil {
			t.Errorf("%+v accepted as %s", o, addr)
		}
	}
}
