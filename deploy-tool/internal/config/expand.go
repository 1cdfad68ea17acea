package config

import (
	"strconv"
	"strings"
)

// What a drain ended by drain_timeout leads to (on_drain_timeout).
const (
	DrainTimeoutStop   = "stop"   // put the server back, stop the rollout (exit 1)
	DrainTimeoutDeploy = "deploy" // deploy anyway; reported "ok, NOT drained"
)

// The placeholders {host}, {addr} and {port} are filled in three ways:
// shell-quoted in a command (ExpandCommand, with Env beside it), bracketed
// in a URL (ExpandURL), and as they are nowhere else. Validation allows in
// a server's host and addr only letters, digits and . _ : - [ ], so a value
// never holds a quote, a $ or a backslash.

// ExpandCommand fills the placeholders of a command for /bin/sh -c. Outside
// quotes a value is single-quoted where the shell would read it as more
// than a word ([::1]:80 is a glob pattern); inside '…' or "…" it is put as
// it is (the quotes already hold it). ${host} is the shell's, left alone.
func ExpandCommand(tmpl string, s Server) string {
	return expand(tmpl, s, func(v string, quoted bool) string {
		if quoted || !needsQuotes(v) {
			return v
		}
		return "'" + v + "'"
	})
}

// ExpandURL fills the placeholders of a URL; an IPv6 {host} is bracketed
// (http://[::1]:9000/inflight).
func ExpandURL(tmpl string, s Server) string {
	host := s.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return expandHost(tmpl, s, host, nil)
}

// Env is the server as environment variables for the deploy and in-flight
// commands: DEPLOY_HOST, DEPLOY_ADDR, DEPLOY_PORT.
func Env(s Server) []string {
	return []string{"DEPLOY_HOST=" + s.Host, "DEPLOY_ADDR=" + s.Addr, "DEPLOY_PORT=" + strconv.Itoa(s.Port)}
}

func needsQuotes(v string) bool {
	return v == "" || strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:/@%+=,", r))
	}) >= 0
}

// expand replaces each placeholder with its value passed through put,
// which is told whether the shell would read that spot inside quotes. A
// nil put is the raw replacement.
func expand(tmpl string, s Server, put func(v string, quoted bool) string) string {
	return expandHost(tmpl, s, s.Host, put)
}

func expandHost(tmpl string, s Server, host string, put func(v string, quoted bool) string) string {
	values := map[string]string{"{host}": host, "{addr}": s.Addr, "{port}": strconv.Itoa(s.Port)}
	var b strings.Builder
	quote := byte(0) // the quote the shell is inside at i, if any
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c == '{' && (i == 0 || tmpl[i-1] != '$') {
			if name, ok := placeholderAt(tmpl[i:]); ok {
				v := values[name]
				if put != nil {
					v = put(v, quote != 0)
				}
				b.WriteString(v)
				i += len(name) - 1
				continue
			}
		}
		b.WriteByte(c)
		switch {
		case c == '\\' && quote != '\'' && i+1 < len(tmpl):
			i++
			b.WriteByte(tmpl[i])
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case quote == c:
			quote = 0
		}
	}
	return b.String()
}

func placeholderAt(s string) (string, bool) {
	for _, p := range []string{"{host}", "{addr}", "{port}"} {
		if strings.HasPrefix(s, p) {
			return p, true
		}
	}
	return "", false
}
