package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

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
	MaxRequestTime Duration  `toml:"max_request_time"` // the longest a request may take (≥ proxy_read_timeout)
	Settle         Duration  `toml:"settle"`
	UpTimeout      Duration  `toml:"up_timeout"`
	NotifyWebhook  string    `toml:"notify_webhook"`

	Deploy    DeployConfig      `toml:"deploy"`
	Health    HealthConfig      `toml:"health"`
	Drain     DrainConfig       `toml:"drain"`
	Gate      GateConfig        `toml:"gate"` // front-end gate between batches (gate.go)
	Balancers []balancer.Config `toml:"balancer"`
	Servers   []ServerConfig    `toml:"server"`

	path string // the file it was read from
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

// ServerConfig is one app server: Addr as the balancers know it (IP:port),
// Host and Port as the deploy command and health check use them.
type ServerConfig struct {
	Addr string `toml:"addr"`
	Host string `toml:"host"`
	Port int    `toml:"port"`
}

// Label is how a server is named in progress lines.
func (s ServerConfig) Label() string {
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

// knownDrivers are the balancer drivers lib/balancer provides.
var knownDrivers = []string{"ngx_dynamic_upstream", "haproxy"}

// Characters allowed in what goes into the shell command: no quoting is
// needed and nothing can be injected through a server's name.
var safeHost = regexp.MustCompile(`^[A-Za-z0-9._:\[\]-]+$`)

// maxConfigSize bounds the config file: a few kilobytes in practice.
const maxConfigSize = 1 << 20

// LoadConfig reads and checks a config file. Every error names the key and,
// where the file has it, the line.
func LoadConfig(path string) (*Config, error) {
	b, err := cli.ReadRegular(path, maxConfigSize) // a FIFO is refused, not waited on forever
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.path = path
	return c, nil
}

// ParseConfig decodes and checks a config document.
func ParseConfig(data []byte) (*Config, error) {
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
	if !md.IsDefined("settle") {
		c.Settle = Duration(time.Second)
	}
	if !md.IsDefined("up_timeout") {
		c.UpTimeout = Duration(30 * time.Second)
	}
	if !md.IsDefined("deploy", "timeout") {
		c.Deploy.Timeout = Duration(10 * time.Minute)
	}
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

func (c *Config) validate(data []byte) error {
	badAt := func(key, hint, format string, args ...any) error {
		return fmt.Errorf("%s%s: %s", key, at(data, strings.Split(key, "."), hint), fmt.Sprintf(format, args...))
	}
	bad := func(key, format string, args ...any) error { return badAt(key, "", format, args...) }
	if c.MaxUnavailable < 1 {
		return bad("max_unavailable", "%d: want 1 or more", c.MaxUnavailable)
	}
	if c.MinUp < 0 {
		return bad("min_up", "%d: want 0 or more", c.MinUp)
	}
	if c.Canary < 0 {
		return bad("canary", "%d: want 0 (no canary) or more", c.Canary)
	}
	if c.Canary > c.MaxUnavailable {
		return bad("canary", "%d is more than max_unavailable %d", c.Canary, c.MaxUnavailable)
	}
	if c.Batch.Percent == 0 && c.Batch.N > c.MaxUnavailable {
		return bad("batch", "%d is more than max_unavailable %d", c.Batch.N, c.MaxUnavailable)
	}
	if c.DrainTimeout.D() < c.DrainWait.D() {
		return bad("drain_timeout", "%v is shorter than drain_wait %v", c.DrainTimeout.D(), c.DrainWait.D())
	}
	if c.DrainTimeout.D() < c.MaxRequestTime.D() {
		return bad("drain_timeout", "%v is shorter than max_request_time %v: a drain could end with requests still running", c.DrainTimeout.D(), c.MaxRequestTime.D())
	}
	if err := c.Drain.validate(bad); err != nil {
		return err
	}
	if c.NotifyWebhook != "" && !strings.HasPrefix(c.NotifyWebhook, "http://") && !strings.HasPrefix(c.NotifyWebhook, "https://") {
		// The value is not printed: a webhook URL is a secret.
		return bad("notify_webhook", "want an http:// or https:// URL")
	}
	if err := checkPlaceholders(c.Deploy.Command, true); err != nil {
		return bad("deploy.command", "%v", err)
	}
	if err := checkPlaceholders(c.Health.URL, false); err != nil {
		return bad("health.url", "%v", err)
	}
	if c.Deploy.Timeout.D() <= 0 {
		return bad("deploy.timeout", "want a positive duration")
	}
	if c.Health.URL != "" && !strings.HasPrefix(c.Health.URL, "http://") && !strings.HasPrefix(c.Health.URL, "https://") {
		return bad("health.url", "%q: want http://{addr}/path or https://…", c.Health.URL)
	}
	if c.Health.Status < 100 || c.Health.Status > 599 {
		return bad("health.status", "%d is not an HTTP status", c.Health.Status)
	}
	if c.Health.Retries < 1 {
		return bad("health.retries", "%d: want 1 or more", c.Health.Retries)
	}
	if c.Health.Timeout.D() <= 0 {
		return bad("health.timeout", "want a positive duration")
	}
	if err := c.Gate.validate(bad); err != nil {
		return err
	}
	if len(c.Balancers) == 0 {
		return fmt.Errorf("no [[balancer]]: at least one is needed")
	}
	names := map[string]bool{}
	for i, b := range c.Balancers {
		key := func(k string) string { return "balancer." + k }
		where := fmt.Sprintf("[[balancer]] #%d", i+1)
		if b.Name == "" {
			return bad(key("name"), "%s has no name", where)
		}
		if names[b.Name] {
			return badAt(key("name"), b.Name, "%q is used twice", b.Name)
		}
		names[b.Name] = true
		switch b.Driver {
		case "ngx_dynamic_upstream":
			if !strings.HasPrefix(b.URL, "http://") && !strings.HasPrefix(b.URL, "https://") {
				return badAt(key("url"), b.URL, "balancer %q: want the http(s) URL of the dynamic_upstream location, got %q", b.Name, b.URL)
			}
		case "haproxy":
			if b.Socket == "" {
				return bad(key("socket"), "balancer %q: want the stats socket path or host:port", b.Name)
			}
		default:
			return badAt(key("driver"), b.Driver, "balancer %q: driver %q: want one of %s", b.Name, b.Driver, strings.Join(knownDrivers, ", "))
		}
		if len(b.Upstreams) == 0 {
			return bad(key("upstreams"), "balancer %q lists no upstreams", b.Name)
		}
		if b.Timeout <= 0 {
			return bad(key("timeout"), "balancer %q: want a positive duration", b.Name)
		}
		if err := b.Validate(); err != nil {
			return badAt(key("name"), b.Name, "%v", err)
		}
	}
	addrs := map[string]bool{}
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s.Addr); err != nil || !safeHost.MatchString(s.Addr) {
			return badAt("server.addr", s.Addr, "%q: want IP:port as the balancers know it", s.Addr)
		}
		if addrs[s.Addr] {
			return fmt.Errorf("server.addr%s: %q is listed twice", atLast(data, []string{"server", "addr"}, s.Addr), s.Addr)
		}
		addrs[s.Addr] = true
		if !safeHost.MatchString(s.Host) {
			return badAt("server.host", s.Host, "%q: only letters, digits and . _ : - [ ] are allowed", s.Host)
		}
		if s.Port < 1 || s.Port > 65535 {
			return badAt("server.port", strconv.Itoa(s.Port), "%d is not a TCP port", s.Port)
		}
	}
	return nil
}

// placeholder is {name} not preceded by $ (a shell's ${VAR} is not ours).
var placeholder = regexp.MustCompile(`(^|[^$])\{([A-Za-z_]*)\}`)

// checkPlaceholders refuses a placeholder Expand does not fill, which would
// otherwise reach the shell or the health URL as it is. In a URL any brace
// is refused; in a command only {word} (braces are shell syntax too).
func checkPlaceholders(tmpl string, shell bool) error {
	for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
		switch m[2] {
		case "host", "addr", "port":
		default:
			return fmt.Errorf("unknown placeholder {%s}: want {host}, {addr} or {port}", m[2])
		}
	}
	if !shell && strings.ContainsAny(Expand(tmpl, ServerConfig{}), "{}") {
		return fmt.Errorf("%q has a brace that is not {host}, {addr} or {port}", tmpl)
	}
	return nil
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
	return out
}

// Redact replaces every secret of the config in s.
func (c *Config) Redact(s string) string { return redact(s, c.Secrets()) }

func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if len(x) >= 3 {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

// Path returns the file the config was read from.
func (c *Config) Path() string { return c.path }

// LockPath and JournalPath are the deploy host's lock and journal files.
func (c *Config) LockPath() string    { return filepath.Join(c.StateDir, "deploy-tool.lock") }
func (c *Config) JournalPath() string { return filepath.Join(c.StateDir, "deploy-tool.journal.json") }

// Server finds a configured server by addr, host, or "host:port".
func (c *Config) Server(name string) (ServerConfig, bool) {
	for _, s := range c.Servers {
		if s.Addr == name || s.Host == name || net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) == name {
			return s, true
		}
	}
	return ServerConfig{}, false
}

// at returns " (line N)" for the first line that sets key in data, or "".
// A non-empty hint prefers the lines whose value contains it (the offending
// element of an array of tables). The toml package does not expose key
// positions, so this finds the key under its table header: good enough to
// point a user at the right line.
func at(data []byte, key []string, hint string) string {
	if ls := lines(data, key, hint); len(ls) > 0 {
		return fmt.Sprintf(" (line %d)", ls[0])
	}
	return ""
}

// atLast is at for the last such line: the second of a duplicate.
func atLast(data []byte, key []string, hint string) string {
	if ls := lines(data, key, hint); len(ls) > 0 {
		return fmt.Sprintf(" (line %d)", ls[len(ls)-1])
	}
	return ""
}

func lines(data []byte, key []string, hint string) []int {
	if len(key) == 0 {
		return nil
	}
	table := strings.Join(key[:len(key)-1], ".")
	last := key[len(key)-1]
	current := ""
	var all, hinted []int
	for i, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			h := strings.TrimSpace(strings.SplitN(l, "#", 2)[0])
			current = strings.ReplaceAll(strings.Trim(h, "[]"), " ", "")
			if current == strings.Join(key, ".") {
				all = append(all, i+1)
			}
			continue
		}
		if current != table {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.Trim(strings.TrimSpace(k), `"'`) != last {
			continue
		}
		all = append(all, i+1)
		if hint != "" && strings.Contains(v, hint) {
			hinted = append(hinted, i+1)
		}
	}
	if len(hinted) > 0 {
		return hinted
	}
	return all
}
