package config

import (
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Drain is the optional [drain] table: the app's own count of the
// requests it is serving, read during a drain where a balancer reports
// none (ngx_dynamic_upstream).
type Drain struct {
	// InflightURL is read with GET ({host}, {addr}, {port} filled in);
	// InflightCommand is run by /bin/sh -c. Either answers with one of the
	// formats the drain takes.
	InflightURL     string   `toml:"inflight_url"`
	InflightCommand string   `toml:"inflight_command"`
	Timeout         Duration `toml:"timeout"` // per read; default 2s
}

func (d Drain) Configured() bool { return d.InflightURL != "" || d.InflightCommand != "" }

func (d Drain) Source() string {
	if d.InflightURL != "" {
		return "inflight_url"
	}
	return "inflight_command"
}

func (d Drain) ReadTimeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout.D()
	}
	return 2 * time.Second
}

// validate checks the table; bad names the key.
func (d Drain) validate(bad func(key, format string, args ...any) error) error {
	if d.InflightURL != "" && d.InflightCommand != "" {
		return bad("drain.inflight_command", "set inflight_url or inflight_command, not both")
	}
	if d.InflightURL != "" {
		if !strings.HasPrefix(d.InflightURL, "http://") && !strings.HasPrefix(d.InflightURL, "https://") {
			return bad("drain.inflight_url", "%q: want http://{host}:PORT/path or https://…", d.InflightURL)
		}
		if err := checkPlaceholders(d.InflightURL, false); err != nil {
			return bad("drain.inflight_url", "%v", err)
		}
	}
	if err := checkPlaceholders(d.InflightCommand, true); err != nil {
		return bad("drain.inflight_command", "%v", err)
	}
	if d.Timeout < 0 {
		return bad("drain.timeout", "want a positive duration")
	}
	return nil
}

// Gate is the [gate] table.
type Gate struct {
	URL      string   `toml:"url"`
	Status   int      `toml:"status"`
	Probes   int      `toml:"probes"`
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
}

func (g *Gate) setDefaults(md toml.MetaData) {
	if g.Status == 0 {
		g.Status = 200
	}
	if !md.IsDefined("gate", "probes") {
		g.Probes = 3
	}
	if !md.IsDefined("gate", "interval") {
		g.Interval = Duration(time.Second)
	}
	if !md.IsDefined("gate", "timeout") {
		g.Timeout = Duration(2 * time.Second)
	}
}

func (g *Gate) validate(bad func(key, format string, args ...any) error) error {
	if g.URL != "" && !strings.HasPrefix(g.URL, "http://") && !strings.HasPrefix(g.URL, "https://") {
		return bad("gate.url", "%q: want the http(s) URL of the service's front end", g.URL)
	}
	if strings.ContainsAny(g.URL, "{}") {
		return bad("gate.url", "%q: the gate probes the front end, not a server: no {host}, {addr} or {port}", g.URL)
	}
	if g.Status < 100 || g.Status > 599 {
		return bad("gate.status", "%d is not an HTTP status", g.Status)
	}
	if g.Probes < 1 {
		return bad("gate.probes", "%d: want 1 or more", g.Probes)
	}
	if g.Interval.D() < 0 {
		return bad("gate.interval", "want 0 or more")
	}
	if g.Timeout.D() <= 0 {
		return bad("gate.timeout", "want a positive duration")
	}
	return nil
}
