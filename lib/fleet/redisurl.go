package fleet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// RedactURL hides what a Redis URL may hold before its last '@' (a user and
// a password), for messages: "redis://REDACTED@host:port/db". It does not
// need the URL to be well formed: "redis//:pw@host", a password holding
// '/', '@' or '#', or no scheme at all are hidden too, since everything
// before the last '@' goes. (No net/url: the plugin does not link it.)
func RedactURL(u string) string {
	at := strings.LastIndex(u, "@")
	if at < 0 {
		return u
	}
	if scheme, _, ok := strings.Cut(u[:at], "://"); ok && isScheme(scheme) {
		return scheme + "://REDACTED@" + u[at+1:]
	}
	return "REDACTED@" + u[at+1:]
}

func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// CheckRedisURL says whether go-redis will read raw as a Redis URL:
// redis:// or rediss:// with a host, an optional numeric port and database,
// or unix://. Both binaries call it when the URL is given, so that a URL
// that cannot be used is a flag error then, not a failure at every run.
// Every message is built from RedactURL(raw) and from what follows the last
// '@' only: nothing of a user or password is ever quoted.
func CheckRedisURL(raw string) error {
	if err := checkRedisURL(raw); err != nil {
		return fmt.Errorf("redis URL %s: %w", RedactURL(raw), err)
	}
	return nil
}

func checkRedisURL(raw string) error {
	for _, c := range []byte(raw) {
		if c <= ' ' || c == 0x7f {
			return errors.New("holds a space or a control character (percent-encode it, %20)")
		}
	}
	if strings.Contains(raw, "#") {
		return errors.New("holds '#' (percent-encode it, %23)")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !isScheme(scheme) {
		return errors.New("not a URL (want redis://host:port/db, or rediss:// for TLS)")
	}
	userinfo, hostEtc := "", rest
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo, hostEtc = rest[:at], rest[at+1:]
	}
	if err := checkUserinfo(userinfo); err != nil {
		return err
	}
	if err := checkEscapes(hostEtc); err != nil {
		return err
	}
	switch scheme {
	case "redis", "rediss":
		return checkHostAndDB(hostEtc)
	case "unix":
		if !strings.HasPrefix(hostEtc, "/") {
			return errors.New("unix:// wants a socket path: unix:///path/to/redis.sock")
		}
		return nil
	}
	return fmt.Errorf("scheme %q: want redis://, rediss:// (TLS) or unix://", scheme)
}

// checkUserinfo accepts what net/url accepts in a user and password; its
// messages quote none of it.
func checkUserinfo(u string) error {
	if strings.ContainsAny(u, "/?") {
		return errors.New("the user or password holds '/' or '?' (percent-encode them: %2F, %3F)")
	}
	if checkEscapes(u) != nil {
		return errors.New("the user or password holds a '%' that is not a %XX escape (write % as %25)")
	}
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~!$&'()*+,;=:%@", c)) {
			return errors.New("the user or password holds a character a URL cannot (percent-encode it)")
		}
	}
	return nil
}

// checkEscapes finds a '%' not followed by two hex digits.
func checkEscapes(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			end := min(i+3, len(s))
			return fmt.Errorf("%q is not a %%XX escape", s[i:end])
		}
		i += 2
	}
	return nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// checkHostAndDB checks "host[:port][/db][?options]" (options are go-redis's
// to judge: it names a bad one, never the password).
func checkHostAndDB(s string) error {
	s, _, _ = strings.Cut(s, "?")
	hostPort, db, hasPath := strings.Cut(s, "/")
	host, port := hostPort, ""
	if strings.HasPrefix(hostPort, "[") {
		end := strings.Index(hostPort, "]")
		if end < 0 {
			return fmt.Errorf("host %q: an IPv6 address without its closing ']'", hostPort)
		}
		host, port = hostPort[:end+1], hostPort[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return fmt.Errorf("host %q: want [address]:port", hostPort)
		}
		port = strings.TrimPrefix(port, ":")
	} else if i := strings.Index(hostPort, ":"); i >= 0 {
		host, port = hostPort[:i], hostPort[i+1:]
	}
	if inner := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"); strings.ContainsAny(inner, "[]") || inner == host && strings.Contains(host, "%") {
		return fmt.Errorf("host %q is not a host name or address", host)
	}
	if port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("port %q: want a number from 1 to 65535", port)
		}
	}
	if hasPath && db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("database %q: want a number (redis://host:port/0)", db)
		}
	}
	return nil
}
