package config

import (
	"net/url"
	"os"
	"strings"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/mackerel"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/window"
)

// loadIntegrations checks [window] and [mackerel]. Done by Load, not
// Parse: relative files are read beside the config, and the API key may
// come from the environment or mackerel-agent.conf.
func (c *Config) loadIntegrations(path string) error {
	var err error
	if c.Window.Configured() {
		if c.windowOpts, err = c.Window.Options(path); err != nil {
			return err
		}
	}
	c.mackerelOpts, err = c.Mackerel.Options(path, os.Getenv)
	return err
}

// WindowOptions are the [window] section's options; ok is false without a
// [window] section.
func (c *Config) WindowOptions() (opts window.Options, ok bool) {
	return c.windowOpts, c.Window.Configured()
}

// MackerelOptions are the [mackerel] section's options (Enabled false
// without one).
func (c *Config) MackerelOptions() mackerel.Options { return c.mackerelOpts }

// integrationSecrets are the Mackerel API key and the calendar URL's path
// and query (Google's secret address holds its key there).
func (c *Config) integrationSecrets() []string {
	var out []string
	if k := string(c.mackerelOpts.APIKey); k != "" {
		out = append(out, k)
	}
	if u, err := url.Parse(c.Window.Calendar); err == nil && u.Scheme != "" && u.Host != "" {
		if p := strings.TrimPrefix(u.RequestURI(), "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}
