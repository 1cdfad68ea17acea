package check

import (
	"net"
	"testing"
)

func TestSplitHostPort(t *testing.T) {
	cases := map[string]string{
		"example.com": "example.com:443", "example.com:8443": "example.com:8443",
		"127.0.0.1": "127.0.0.1:443", "::1": "[::1]:443", "[::1]": "[::1]:443", "[::1]:993": "[::1]:993",
	}
	for in, want := range cases {
		h, p, err := SplitHostPort(in, "443")
		if err != nil || net.JoinHostPort(h, p) != want {
			t.Errorf("%q: %s %s %v, want %s", in, h, p, err, want)
		}
	}
	if h, p, err := SplitHostPort("[::1]", ""); h != "::1" || p != "" || err != nil {
		t.Errorf("no default port: %q %q %v", h, p, err)
	}
	if _, _, err := SplitHostPort("db:", ""); err == nil {
		t.Error("db: accepted without a default port")
	}
	for _, in := range []string{"", ":443", "host:", "host:0", "host:x", "[::1]:", "a b:1", "host:70000"} {
		if h, p, err := SplitHostPort(in, "443"); err == nil {
			t.Errorf("%q accepted as %s %s", in, h, p)
		}
	}
}
