// Package config owns deploy-tool's TOML file: it decodes it, fills the
// defaults and validates it into a Config that the rest of the tool uses
// as it is. Every error names the key and, where the file has it, the line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/mackerel"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/window"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// Config is deploy-tool's TOML file.
type Config struct {
	StateDir       string    `toml:"state_dir"`
	Batch          BatchSize `toml:"batch"`
	MaxUnavailable int       `toml:"max_unavailable"`
	MinUp          int       `toml:"min_up"`
	Canary         int       `toml:"canary"`
	CanaryPause    Pause     `toml:"canary_pause"`
	DrainWait      Duration  `toml:"drain_wait"`
	DrainTimeout   Duration  `toml:"drain_timeout"`
	OnDrainTimeout string    `toml:"on_drain_timeout"` // DrainTimeoutStop (default) or DrainTimeoutDeploy
	MaxRequestTime Duration  `toml:"max_request_time"` // the longest a request may take (≥ proxy_read_timeout)
	Settle         Duration  `toml:"settle"`
	UpTimeout      Duration  `toml:"up_timeout"`
	NotifyWebhook  string    `toml:"notify_webhook"`

	Deploy DeployConfig `toml:"deploy"`
	Health HealthConfig `toml:"health"`
	Drain  Drain        `toml:"drain"`
	Gate   Gate         `toml:"gate"` // front-end gate between batches (gate.go)
	// Coordination is the deploy hosts' etcd; nil: one deploy host.
	Coordination *coord.Section    `toml:"coordination"`
	Balancers    []balancer.Config `toml:"balancer"`
	Servers      []Server          `toml:"server"`
	// Window is the deploy windows' calendar; none configured: no check.
	Window window.Section `toml:"window"`
	// Mackerel is where runs are annotated and alerts read; none: neither.
	Mackerel mackerel.Section `toml:"mackerel"`

	path      string        // the file it was read from
	coordOpts coord.Options // [coordination], checked by Load
	// [window] and [mackerel], checked by Load (integrations.go)
	windowOpts   window.Options
	mackerelOpts mackerel.Options
}

// DeployConfig is the command run for each server.
type DeployConfig struct {
	Command string   `toml:"command"`
	Timeout Duration `toml:"timeout"`
}

// HealthConfig is the check a server must pass before it is marked up.
type HealthConfig struct {
	URL      string   `toml:"url"`
	Status   int      `toml:"status"`
	Interval Duration `toml:"interval"`
	Retries  int      `toml:"retries"`
	Timeout  Duration `toml:"timeout"`
}

// Server is one app server: Addr as the balancers know it (IP:port),
// Host and Port as the deploy command and health check use them.
type Server struct {
	Addr string `toml:"addr"`
	Host string `toml:"host"`
	Port int    `toml:"port"`
}

// Label is how a server is named in progress lines.
func (s Server) Label() string {
	if h, _, _ := net.SplitHostPort(s.Addr); h == s.Host {
		return s.Addr
	}
	return s.Host + " (" + s.Addr + ")"
}

// Duration is the suite's one duration type (lib/cli): a bare number is
// seconds (drain_wait = 2, "2"), or a string with a unit ("2s", "1500ms").
type Duration = cli.Duration

// BatchSize is a number of servers (3) or a share of them ("25%").
type BatchSize struct {
	N       int
	Percent float64
}

// UnmarshalTOML implements toml.Unmarshaler: an integer or a string "N" or "N%".
func (b *BatchSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 1 || x > math.MaxInt32 {
			return fmt.Errorf("batch %d: want 1 or more", x)
		}
		*b = BatchSize{N: int(x)}
		return nil
	case string:
		s := strings.TrimSpace(x)
		if p, ok := strings.CutSuffix(s, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || !(f > 0 && f <= 100) {
				return fmt.Errorf("batch %q: want a share between 0%% and 100%%, like \"25%%\"", x)
			}
			*b = BatchSize{Percent: f}
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("batch %q: want a count (2) or a share (\"25%%\")", x)
		}
		*b = BatchSize{N: n}
		return nil
	}
	return fmt.Errorf("batch: want a count (2) or a share (\"25%%\"), not %T", v)
}

// Size is the batch size for total servers: at least 1.
func (b BatchSize) Size(total int) int {
	if b.Percent > 0 {
		n := int(math.Ceil(b.Percent * float64(total) / 100))
		return max(n, 1)
	}
	return max(b.N, 1)
}

func (b BatchSize) String() string {
	if b.Percent > 0 {
		return strconv.FormatFloat(b.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(b.N)
}

// Pause is what happens after the canary batch: a wait (30, "30s") or
// "prompt".
type Pause struct {
	Prompt bool
	Wait   time.Duration
}

// UnmarshalTOML implements toml.Unmarshaler: "prompt", or a duration by
// Duration's rules (a bare number is seconds).
func (p *Pause) UnmarshalTOML(v any) error {
	if v == "prompt" {
		*p = Pause{Prompt: true}
		return nil
	}
	var d Duration
	if err := d.UnmarshalTOML(v); err != nil {
		return fmt.Errorf("%v: want \"prompt\" or a duration (30, \"30s\")", shownTOML(v))
	}
	*p = Pause{Wait: d.D()}
	return nil
}

// shownTOML writes a TOML value as the file has it: a string quoted.
func shownTOML(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// maxConfigSize bounds the config file: a few kilobytes in practice.
const maxConfigSize = 1 << 20

// Load reads and checks a config file. Every error names the key and,
// where the file has it, the line.
func Load(path string) (*Config, error) {
	b, err := cli.ReadRegular(path, maxConfigSize) // a FIFO is refused, not waited on forever
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.path = path
	if c.Coordination != nil {
		// Checked here, not in Parse: relative files are read beside the config.
		if c.coordOpts, err = c.Coordination.Options(path, os.Getenv); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := c.loadIntegrations(path); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks a config document.
func Parse(data []byte) (*Config, error) {
	var c Config
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, errors.New(pe.Error())
		}
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		var msgs []string
		for _, k := range und {
			msgs = append(msgs, "unknown key "+strconv.Quote(k.String())+at(data, k, ""))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	c.defaults(md)
	if err := c.validate(data); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) defaults(md toml.MetaData) {
	if c.StateDir == "" {
		c.StateDir = "/var/tmp/deploy-tool"
	}
	if c.Batch == (BatchSize{}) {
		c.Batch = BatchSize{N: 1}
	}
	if !md.IsDefined("max_unavailable") {
		c.MaxUnavailable = 1
	}
	if !md.IsDefined("min_up") {
		c.MinUp = 1
	}
	if !md.IsDefined("canary_pause") {
		c.CanaryPause = Pause{Prompt: true}
	}
	if !md.IsDefined("drain_wait") {
		c.DrainWait = Duration(2 * time.Second)
	}
	if !md.IsDefined("drain_timeout") {
		c.DrainTimeout = Duration(30 * time.Second)
	}
	if c.OnDrainTimeout == "" {
		c.OnDrainTimeout = DrainTimeoutStop
	}
	if !md.IsDefined("settle") {
		c.Settle = Duration(time.Second)
	}
	if !md.IsDefined("up_timeout") {
		c.UpTimeout = Duration(30 * time.Second)
	}
	if !md.IsDefined("deploy", "timeout") {
		c.Deploy.Timeout = Duration(10 * time.Minute)
	}
	// A command of blanks is no command: refused as empty, never run.
	c.Deploy.Command = strings.TrimSpace(c.Deploy.Command)
	c.Drain.InflightCommand = strings.TrimSpace(c.Drain.InflightCommand)
	if c.Health.Status == 0 {
		c.Health.Status = 200
	}
	if !md.IsDefined("health", "interval") {
		c.Health.Interval = Duration(time.Second)
	}
	if !md.IsDefined("health", "retries") {
		c.Health.Retries = 10
	}
	if !md.IsDefined("health", "timeout") {
		c.Health.Timeout = Duration(2 * time.Second)
	}
	c.Gate.setDefaults(md)
	for i := range c.Balancers {
		if c.Balancers[i].Timeout == 0 {
			c.Balancers[i].Timeout = balancer.Duration(5 * time.Second)
		}
	}
	c.serverDefaults()
}

// Secrets are the config's values that must never be printed: the webhook
// URL's path and query (a Slack webhook's path is its key) and the
// passwords of balancer URLs.
func (c *Config) Secrets() []string {
	var out []string
	if u, err := url.Parse(c.NotifyWebhook); err == nil && c.NotifyWebhook != "" {
		if p := strings.TrimPrefix(u.RequestURI(), "/"); p != "" {
			out = append(out, p)
		}
	} else if c.NotifyWebhook != "" {
		out = append(out, c.NotifyWebhook)
	}
	for _, b := range c.Balancers {
		if u, err := url.Parse(b.URL); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
			}
		}
	}
	return append(out, c.integrationSecrets()...)
}

// Redact replaces every secret of the config in s.
func (c *Config) Redact(s string) string { return Redact(s, c.Secrets()) }

// Redact replaces each of the secrets (3 characters or more) in s.
func Redact(s string, secrets []string) string {
	for _, x := range secrets {
		if len(x) >= 3 {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

// Path returns the file the config was read from.
func (c *Config) Path() string { return c.path }

// serverDefaults fills host and port from each server's addr.
func (c *Config) serverDefaults() {
	for i := range c.Servers {
		s := &c.Servers[i]
		h, p, err := net.SplitHostPort(s.Addr)
		if err != nil {
			continue // validate reports it
		}
		if s.Host == "" {
			s.Host = h
		}
		if s.Port == 0 {
			s.Port, _ = strconv.Atoi(p)
		}
	}
}

// LockPath and JournalPath are the deploy host's lock and journal files.
func (c *Config) LockPath() string    { return filepath.Join(c.StateDir, "deploy-tool.lock") }
func (c *Config) JournalPath() string { return filepath.Join(c.StateDir, "deploy-tool.journal.json") }

// Server finds a configured server by addr, host, or "host:port".
func (c *Config) Server(name string) (Server, bool) {
	for _, s := range c.Servers {
		if s.Addr == name || s.Host == name || net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) == name {
			return s, true
		}
	}
	return Server{}, false
}

// Lookup finds a server in the config, or takes it as IP:port.
func (c *Config) Lookup(name string) (Server, error) {
	if s, ok := c.Server(name); ok {
		return s, nil
	}
	h, p, err := net.SplitHostPort(name)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || !safeHost.MatchString(h) {
		return Server{}, fmt.Errorf("server %q is not in the config and is not IP:port", name)
	}
	return Server{Addr: name, Host: h, Port: port}, nil
}

// FailuresPath is the file of saved passive-health-check values.
func (c *Config) FailuresPath() string {
	return filepath.Join(c.StateDir, "deploy-tool.failures.json")
}

// CoordinationOptions are the [coordination] section's etcd options; ok is
// false without one (a single deploy host).
func (c *Config) CoordinationOptions() (opts coord.Options, ok bool) {
	return c.coordOpts, c.Coordination != nil
}

// Labels names the servers for progress lines, comma-separated.
func Labels(servers []Server) string {
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.Label()
	}
	return strings.Join(names, ", ")
}
