package coord

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// PasswordEnv names the environment variable that may hold the etcd
// password when no password_file is given.
const PasswordEnv = "DEPLOY_TOOL_ETCD_PASSWORD"

// Default and bounds of the [coordination] section.
const (
	DefaultLeaseTTL = 10 * time.Second
	// MinLeaseTTL is etcd's own floor with its default election timeout:
	// it silently grants longer leases than asked below it.
	MinLeaseTTL = 2 * time.Second
	MaxLeaseTTL = 10 * time.Minute
)

// Section is the [coordination] table of a deploy-tool config. Without it
// there is one deploy host and no etcd.
type Section struct {
	EtcdEndpoints []string     `toml:"etcd_endpoints"`
	Prefix        string       `toml:"prefix"`    // default /deploy-tool/<config file name>
	LeaseTTL      cli.Duration `toml:"lease_ttl"` // default 10s, whole seconds
	CAFile        string       `toml:"ca_file"`
	CertFile      string       `toml:"cert_file"`
	KeyFile       string       `toml:"key_file"`
	Username      string       `toml:"username"`
	PasswordFile  string       `toml:"password_file"` // else $DEPLOY_TOOL_ETCD_PASSWORD
}

// Secret is a string that never prints: fmt shows it as [redacted].
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// Options are what NewEtcd needs, built by Section.Options.
type Options struct {
	Endpoints []string
	Prefix    string        // keys live under it: /lock, /holder, /hosts/, /servers/
	LeaseTTL  time.Duration // whole seconds
	TLS       *tls.Config   // nil for http:// endpoints
	Username  string
	Password  Secret
	// DialTimeout bounds the connection at NewEtcd; CallTimeout every
	// later call (Lock's wait excepted); LockWait the wait for the lock.
	DialTimeout time.Duration
	CallTimeout time.Duration
	LockWait    time.Duration
}

// Defaults of the timeouts that the section does not set.
const (
	DefaultDialTimeout = 3 * time.Second
	DefaultCallTimeout = 5 * time.Second
	DefaultLockWait    = 2 * time.Minute
)

var (
	prefixRE = regexp.MustCompile(`^(/[A-Za-z0-9._~@:+=-]+)+$`)
	unsafeRE = regexp.MustCompile(`[^A-Za-z0-9._-]`)
)

// Options validates the section and turns it into Options. configPath is
// the config file (the default prefix is derived from its name, and
// relative ca_file, cert_file, key_file and password_file are read beside
// it); getenv reads $DEPLOY_TOOL_ETCD_PASSWORD. Errors name the key, never
// a password.
func (s *Section) Options(configPath string, getenv func(string) string) (Options, error) {
	o := Options{Username: s.Username, DialTimeout: DefaultDialTimeout, CallTimeout: DefaultCallTimeout, LockWait: DefaultLockWait}
	var err error
	if o.Endpoints, err = s.endpoints(); err != nil {
		return Options{}, err
	}
	if o.Prefix, err = s.prefix(configPath); err != nil {
		return Options{}, err
	}
	if o.LeaseTTL, err = s.leaseTTL(); err != nil {
		return Options{}, err
	}
	dir := ""
	if configPath != "" {
		dir = filepath.Dir(configPath)
	}
	if o.TLS, err = s.tlsConfig(dir, strings.HasPrefix(o.Endpoints[0], "https://")); err != nil {
		return Options{}, err
	}
	if o.Password, err = s.password(dir, getenv); err != nil {
		return Options{}, err
	}
	return o, nil
}

func bad(key, format string, args ...any) error {
	return fmt.Errorf("coordination.%s: %s", key, fmt.Sprintf(format, args...))
}

func (s *Section) endpoints() ([]string, error) {
	if len(s.EtcdEndpoints) == 0 {
		return nil, bad("etcd_endpoints", `missing: list etcd's client URLs, e.g. ["http://127.0.0.1:2379"]`)
	}
	var out []string
	scheme := ""
	for _, e := range s.EtcdEndpoints {
		if i := strings.LastIndex(e, "@"); i >= 0 {
			return nil, bad("etcd_endpoints", "%q: user info in an endpoint is refused: use username and password_file", "…"+e[i:])
		}
		u, err := url.Parse(strings.TrimSpace(e))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, bad("etcd_endpoints", "%q: want http://HOST:PORT or https://HOST:PORT", e)
		}
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return nil, bad("etcd_endpoints", "%q: the port is missing (etcd's client port is usually 2379)", e)
		}
		if scheme != "" && u.Scheme != scheme {
			return nil, bad("etcd_endpoints", "%q: mixes http and https endpoints", e)
		}
		scheme = u.Scheme
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

func (s *Section) prefix(configPath string) (string, error) {
	p := s.Prefix
	if p == "" {
		if configPath == "" {
			return "", bad("prefix", "missing, and there is no config file name to derive it from")
		}
		name := strings.TrimSuffix(filepath.Base(configPath), filepath.Ext(configPath))
		name = unsafeRE.ReplaceAllString(name, "_")
		p = "/deploy-tool/" + strings.Trim(name, ".")
	}
	if !prefixRE.MatchString(p) || strings.Contains(p, "/./") || strings.Contains(p, "/../") {
		return "", bad("prefix", "%q: want a key path like /deploy-tool/shop (starting with /, no trailing /, no spaces)", p)
	}
	return p, nil
}

func (s *Section) leaseTTL() (time.Duration, error) {
	d := s.LeaseTTL.D()
	if d == 0 {
		return DefaultLeaseTTL, nil
	}
	if d < MinLeaseTTL || d > MaxLeaseTTL || d%time.Second != 0 {
		return 0, bad("lease_ttl", "%v: want whole seconds from %v to %v", d, MinLeaseTTL, MaxLeaseTTL)
	}
	return d, nil
}

func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

func (s *Section) tlsConfig(dir string, https bool) (*tls.Config, error) {
	if !https {
		for _, kv := range [][2]string{{"ca_file", s.CAFile}, {"cert_file", s.CertFile}, {"key_file", s.KeyFile}} {
			if kv[1] != "" {
				return nil, bad(kv[0], "is set, but etcd_endpoints are http://: use https:// endpoints")
			}
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := cli.ReadRegular(resolve(dir, s.CAFile), 1<<20)
		if err != nil {
			return nil, bad("ca_file", "%v", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, bad("ca_file", "%s holds no PEM certificate", s.CAFile)
		}
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, bad("cert_file", "cert_file and key_file go together (a client certificate and its key)")
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(resolve(dir, s.CertFile), resolve(dir, s.KeyFile))
		if err != nil {
			return nil, bad("cert_file", "%s with key_file %s: %v", s.CertFile, s.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (s *Section) password(dir string, getenv func(string) string) (Secret, error) {
	var pw string
	switch {
	case s.PasswordFile != "":
		if s.Username == "" {
			return "", bad("password_file", "is set without username")
		}
		p, err := cli.ReadSecretFile("coordination.password_file", resolve(dir, s.PasswordFile))
		if err != nil {
			return "", err
		}
		pw = p
	case s.Username != "":
		pw = getenv(PasswordEnv)
		if pw == "" {
			return "", bad("username", "is set, but there is no password: set coordination.password_file or $%s", PasswordEnv)
		}
	}
	return Secret(pw), nil
}
