// Package redisstore is lib/fleet's windows in Redis: hosts deliver
// contributions (Store.Deliver, atomically and at most once per contribution
// id), the aggregator freezes closed windows (Store.Freeze) and reads them.
// It is kept apart from lib/fleet so that mackerel-plugin-accesslog, which
// only spools contributions, does not link a Redis client (nor TLS and the
// network stack) into every per-minute run.
package redisstore

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// Config says how to reach Redis.
type Config struct {
	URL          string        // redis://[user@]host:port/db or rediss:// for TLS
	PasswordFile string        // a file holding the password (one line); else PasswordEnv; else the URL's
	CAFile       string        // with rediss://: PEM certificates to verify the server with, instead of the system's
	Cluster      bool          // the URL names one node of a Redis Cluster
	Timeout      time.Duration // for each dial, read and write
	// Kind is "" for the access log's windows, fleet.KindErrors for
	// check-error-log's: each kind has keys of its own.
	Kind string
}

// Store is a service's windows in Redis.
type Store struct {
	rdb     redis.UniversalClient
	service string
	prefix  string // keyPrefix or errorKeyPrefix
	// TTL is how long a window's keys live after its last contribution.
	TTL time.Duration
	// Grace, when above 0, replaces the grace the aggregators record for
	// the service (tests deliver to windows closed long ago).
	Grace time.Duration
	// Clock is this host's clock, compared with Redis's at each delivery
	// (tests set one that is behind).
	Clock func() time.Time

	offset time.Duration // this host's clock minus Redis's, at the last delivery
	grace  time.Duration // the grace of the last delivery

	testHook func(step string) error
}

// quiet drops go-redis's own log lines: they went to stderr as a second,
// differently formed line for the same failure, which every caller already
// reports once as an error.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

// Open connects to Redis (lazily: the first command dials) for one service.
func Open(cfg Config, service string) (*Store, error) {
	if err := fleet.CheckRedisURL(cfg.URL); err != nil {
		return nil, err
	}
	prefix := keyPrefix
	switch cfg.Kind {
	case "":
	case fleet.KindErrors:
		prefix = errorKeyPrefix
	default:
		return nil, fmt.Errorf("redis store: unknown kind %q", cfg.Kind)
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		// net/url's errors quote the whole URL, password included: only
		// go-redis's own (a bad option, named) are passed on.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("redis URL %s: not a URL go-redis can read", fleet.RedactURL(cfg.URL))
		}
		return nil, fmt.Errorf("redis URL %s: %v", fleet.RedactURL(cfg.URL), err)
	}
	switch {
	case cfg.PasswordFile != "":
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis password file: %v", err)
		}
		opt.Password = strings.TrimRight(string(b), "\r\n")
	case os.Getenv(fleet.PasswordEnv) != "":
		opt.Password = os.Getenv(fleet.PasswordEnv)
	}
	if cfg.CAFile != "" {
		if opt.TLSConfig == nil {
			return nil, fmt.Errorf("redis CA file %s: the URL %s is not rediss:// (TLS)", cfg.CAFile, fleet.RedactURL(cfg.URL))
		}
		pool, err := readCAFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		opt.TLSConfig.RootCAs = pool
	}
	t := cfg.Timeout
	if t <= 0 {
		t = 2 * time.Second
	}
	var rdb redis.UniversalClient
	if cfg.Cluster {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: []string{opt.Addr}, Username: opt.Username, Password: opt.Password, TLSConfig: opt.TLSConfig,
			DialTimeout: t, ReadTimeout: t, WriteTimeout: t, MaxRetries: 1,
		})
	} else {
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries = t, t, t, 1
		rdb = redis.NewClient(opt)
	}
	return &Store{rdb: rdb, service: service, prefix: prefix, TTL: 48 * time.Hour, Clock: time.Now}, nil
}

// readCAFile reads PEM certificates into a pool.
func readCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("redis CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("redis CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// DefaultGrace is the grace hosts use when no aggregator has recorded one:
// the aggregator's default --grace.
const DefaultGrace = 90 * time.Second

// Close releases the connections.
func (s *Store) Close() error { return s.rdb.Close() }

// keyPrefix is the first part of every key the fleet writes.
const keyPrefix = "mackerel-fleet:"

// errorKeyPrefix is the first part of the keys of check-error-log's windows
// (fleet.KindErrors): the same layout as the access log's, apart from them.
const errorKeyPrefix = "mackerel-fleet-errors:"

// serviceKeys are the service's keys, all in one hash slot: the index
// (sorted set of the windows that may still need posting, scored by their
// end), gen (Redis's time, in seconds, when the service's data began in this
// Redis: set by the first writer, so a Redis restarted empty gets a new one)
// and grace (the aggregators' --grace, in seconds).
func (s *Store) serviceKeys() []string {
	tag := s.prefix + "{" + s.service + "}:"
	return []string{tag + "windows", tag + "gen", tag + "grace"}
}

// windowKeys are a window's keys, all in one hash slot (one hash tag) so
// that a script can touch them together on Redis Cluster: meta (created,
// frozen, posted), the applied contribution ids, the contributing hosts, and
// the data (counters and histograms).
func (s *Store) windowKeys(w fleet.Window) []string {
	tag := s.prefix + "{" + s.service + ":" + w.String() + "}:"
	return []string{tag + "meta", tag + "ids", tag + "hosts", tag + "data"}
}
