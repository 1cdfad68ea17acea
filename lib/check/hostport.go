package check

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// SplitHostPort parses a --host value: HOST, HOST:PORT, [IPv6]:PORT, [IPv6]
// or a bare IPv6 address, filling in defPort when it names none (an empty
// defPort then gives an empty port). Every check that takes --host reads it
// this way.
func SplitHostPort(s, defPort string) (host, port string, err error) {
	s = strings.TrimSpace(s)
	named := false
	switch {
	case s == "":
		return "", "", errors.New("empty host")
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host, port = s[1:len(s)-1], defPort
	case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
		host, port = s, defPort
	case strings.Contains(s, ":"):
		host, port, err = net.SplitHostPort(s)
		named = true
		if err != nil {
			return "", "", fmt.Errorf("bad host %q: want HOST, HOST:PORT or [IPv6]:PORT", s)
		}
	default:
		host, port = s, defPort
	}
	if host == "" || strings.ContainsAny(host, "[]/ ") {
		return "", "", fmt.Errorf("bad host %q: want HOST, HOST:PORT or [IPv6]:PORT", s)
	}
	if !named && port == "" {
		return host, "", nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port in %q: want 1 to 65535", s)
	}
	return host, port, nil
}
