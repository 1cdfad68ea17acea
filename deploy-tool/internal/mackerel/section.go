package mackerel

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// Defaults of the [mackerel] section.
const (
	DefaultAPIBase   = "https://api.mackerelio.com"
	DefaultAgentConf = "/etc/mackerel-agent/mackerel-agent.conf"
	DefaultTimeout   = 5 * time.Second
	MaxTimeout       = 30 * time.Second
	// APIKeyEnv is read when apikey_file is not set, as mkr reads it.
	APIKeyEnv = "MACKEREL_APIKEY"
)

// Section is the [mackerel] table of a deploy-tool config. A section with
// nothing set is off (Options returns Enabled false).
type Section struct {
	Service     string       `toml:"service"`
	Roles       []string     `toml:"roles"`       // optional: annotations and alerts narrowed to these roles
	APIKeyFile  string       `toml:"apikey_file"` // else $MACKEREL_APIKEY, else agent_conf's apikey
	AgentConf   string       `toml:"agent_conf"`  // default /etc/mackerel-agent/mackerel-agent.conf
	APIBase     string       `toml:"apibase"`     // default agent_conf's apibase, else https://api.mackerelio.com
	StopOnAlert bool         `toml:"stop_on_alert"`
	Timeout     cli.Duration `toml:"timeout"` // per API call, default 5s
}

// Secret is a string that never prints: fmt shows it as [redacted].
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// Options are what New needs, built by Section.Options.
type Options struct {
	Enabled     bool
	Service     string
	Roles       []string
	APIBase     string
	APIKey      Secret
	KeyFrom     string // where the key was found, for messages: "apikey_file /x", "$MACKEREL_APIKEY", "/etc/…/mackerel-agent.conf"
	StopOnAlert bool
	Timeout     time.Duration
}

// Mackerel's service and role names: 2 to 63 letters, digits, _ and -.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{1,62}$`)

func bad(key, format string, args ...any) error {
	return fmt.Errorf("mackerel.%s: %s", key, fmt.Sprintf(format, args...))
}

// Options validates the section and finds the API key. configPath is the
// config file: a relative apikey_file or agent_conf is read beside it.
// getenv reads $MACKEREL_APIKEY. Errors name the key, never the API key.
func (s *Section) Options(configPath string, getenv func(string) string) (Options, error) {
	if s.isZero() {
		return Options{}, nil
	}
	o := Options{Enabled: true, Service: s.Service, Roles: s.Roles, StopOnAlert: s.StopOnAlert, Timeout: s.Timeout.D()}
	if !nameRE.MatchString(s.Service) {
		return Options{}, bad("service", "%q: want the Mackerel service's name (2-63 letters, digits, _ or -)", s.Service)
	}
	for _, r := range s.Roles {
		if !nameRE.MatchString(r) {
			return Options{}, bad("roles", "%q: want a role name of the service (2-63 letters, digits, _ or -)", r)
		}
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0 || o.Timeout > MaxTimeout:
		return Options{}, bad("timeout", "%s: want more than 0 and at most %s (each API call; a slow Mackerel must not slow the rollout)", s.Timeout, MaxTimeout)
	}
	dir := ""
	if configPath != "" {
		dir = filepath.Dir(configPath)
	}
	conf := beside(dir, s.AgentConf)
	if conf == "" {
		conf = DefaultAgentConf
	}
	agent, agentErr := readAgentConf(conf)
	var err error
	if o.APIBase, err = s.apibase(agent.Apibase); err != nil {
		return Options{}, err
	}
	o.APIKey, o.KeyFrom, err = s.apiKey(dir, getenv, conf, agent.Apikey, agentErr)
	return o, err
}

func (s *Section) isZero() bool {
	return s.Service == "" && len(s.Roles) == 0 && s.APIKeyFile == "" && s.AgentConf == "" &&
		s.APIBase == "" && !s.StopOnAlert && s.Timeout == 0
}

func beside(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// apibase checks the section's apibase, else takes mackerel-agent.conf's,
// else the default, as mkr does. The client replaces the URL's path, so a
// path is refused rather than silently dropped.
func (s *Section) apibase(fromAgent string) (string, error) {
	key, raw := "apibase", s.APIBase
	if raw == "" {
		key, raw = "agent_conf's apibase", fromAgent
	}
	if raw == "" {
		return DefaultAPIBase, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", bad(key, "%q: want http(s)://HOST[:PORT] without a path", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

type agentConf struct {
	Apikey  string `toml:"apikey"`
	Apibase string `toml:"apibase"`
}

func readAgentConf(path string) (agentConf, error) {
	var c agentConf
	_, err := toml.DecodeFile(path, &c)
	return c, err
}

// apiKey finds the key as mkr does: apikey_file, else $MACKEREL_APIKEY,
// else mackerel-agent.conf's apikey.
func (s *Section) apiKey(dir string, getenv func(string) string, conf, agentKey string, agentErr error) (Secret, string, error) {
	if s.APIKeyFile != "" {
		p := beside(dir, s.APIKeyFile)
		b, err := os.ReadFile(p)
		if err != nil {
			return "", "", bad("apikey_file", "%v", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" || strings.ContainsAny(k, " \t\r\n") {
			return "", "", bad("apikey_file", "%s: want the API key alone on one line", p)
		}
		return Secret(k), "apikey_file " + p, nil
	}
	if k := strings.TrimSpace(getenv(APIKeyEnv)); k != "" {
		return Secret(k), "$" + APIKeyEnv, nil
	}
	if agentErr == nil && agentKey != "" {
		return Secret(agentKey), conf, nil
	}
	why := "has no apikey"
	var perr toml.ParseError
	switch {
	case errors.Is(agentErr, os.ErrNotExist):
		why = "does not exist"
	case errors.As(agentErr, &perr):
		// Never the parser's message: it may quote the apikey line.
		why = fmt.Sprintf("is not valid TOML (line %d)", perr.Position.Line)
	case agentErr != nil:
		why = "cannot be read: " + agentErr.Error()
	}
	return "", "", bad("apikey_file", "no Mackerel API key: apikey_file is not set, $%s is empty, and %s %s", APIKeyEnv, conf, why)
}
