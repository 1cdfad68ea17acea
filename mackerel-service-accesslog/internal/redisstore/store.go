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
	"strconv"
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
}

// Store is a service's windows in Redis.
type Store struct {
	rdb     redis.UniversalClient
	service string
	// TTL is how long a window's keys live after its last contribution.
	TTL time.Duration
	// Late is how long after its end a window that Redis has never seen may
	// still be created; a contribution to an older one goes to the current
	// window instead (its keys may have expired after being posted).
	Late time.Duration

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
	return &Store{rdb: rdb, service: service, TTL: 48 * time.Hour, Late: time.Hour}, nil
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

// Close releases the connections.
func (s *Store) Close() error { return s.rdb.Close() }

// applyScript adds a contribution to a window in one step, once per id:
// 'dup' when the id was applied already (a retried delivery), 'frozen' when
// an aggregator has closed the window, 'late' when the window does not exist
// and ended more than Late ago, else 'applied'.
var applyScript = redis.NewScript(`
local meta, ids, hosts, data = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('SISMEMBER', ids, ARGV[1]) == 1 then return 'dup' end
if redis.call('EXISTS', meta) == 0 then
  local now = tonumber(redis.call('TIME')[1])
  if now > tonumber(ARGV[4]) + tonumber(ARGV[5]) then return 'late' end
  redis.call('HSET', meta, 'created', now)
elseif redis.call('HEXISTS', meta, 'frozen') == 1 then
  return 'frozen'
end
for i = 6, #ARGV, 3 do
  local f, v = ARGV[i+1], ARGV[i+2]
  if ARGV[i] == 'i' then
    redis.call('HINCRBY', data, f, v)
  elseif ARGV[i] == 'f' then
    redis.call('HINCRBYFLOAT', data, f, v)
  elseif ARGV[i] == 'h' then
    for x, n in string.gmatch(v, '(%-?%d+) (%d+) ') do redis.call('HINCRBY', data, f .. x, n) end
  else
    local cur = redis.call('HGET', data, f)
    if not cur or tonumber(v) > tonumber(cur) then redis.call('HSET', data, f, v) end
  end
end
redis.call('SADD', ids, ARGV[1])
redis.call('HINCRBY', hosts, ARGV[2], 1)
for _, k in ipairs(KEYS) do redis.call('EXPIRE', k, ARGV[3]) end
return 'applied'
`)

// Outcome is what a delivery did.
type Outcome string

const (
	Applied Outcome = "applied" // added to its window now
	Dup     Outcome = "dup"     // had been added before (a retry): nothing done
)

// Deliver adds c to its window, exactly once however often it is retried,
// and records the window in the service's index. When the window is closed
// already, c moves to the window open now: retarget is called with c
// changed before it is applied there, and must persist it (so that a retry
// after a failure goes to the same window and is recognised as a duplicate);
// nil when c is not kept anywhere.
//
// The window goes into the index before c is applied, so that a host that
// dies for good between the two steps leaves at worst an index entry
// without data (which an aggregator drops), never data without an entry
// (which no aggregator would find). The index and the window are in
// different hash slots, so one script cannot write both on Redis Cluster.
func (s *Store) Deliver(ctx context.Context, c *fleet.Contribution, now func() time.Time, retarget func(*fleet.Contribution) error) (Outcome, error) {
	for range 4 {
		w := c.Window
		if err := s.rdb.ZAdd(ctx, indexKey(s.service), redis.Z{Score: float64(w.End()), Member: w.String()}).Err(); err != nil {
			return "", fmt.Errorf("redis: index window %s: %w", w, err)
		}
		if err := s.hook("indexed"); err != nil {
			return "", err
		}
		res, err := s.apply(ctx, c)
		if err != nil {
			return "", err
		}
		if err := s.hook("applied"); err != nil {
			return "", err
		}
		switch res {
		case "applied", "dup":
			return Outcome(res), nil
		case "frozen", "late":
			next := fleet.WindowOf(now(), time.Duration(c.Window.Len)*time.Second)
			if next == c.Window {
				return "", fmt.Errorf("window %s is %s but it is the current window: is this host's clock behind?", c.Window, res)
			}
			c.Window = next
			if retarget == nil {
				continue
			}
			if err := retarget(c); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("redis: apply script answered %q", res)
		}
	}
	return "", errors.New("every window tried was closed: is this host's clock behind?")
}

// hook lets tests stop a delivery between its steps, as a host that dies.
func (s *Store) hook(step string) error {
	if s.testHook == nil {
		return nil
	}
	return s.testHook(step)
}

func (s *Store) apply(ctx context.Context, c *fleet.Contribution) (string, error) {
	ops := contributionOps(c)
	args := make([]any, 0, 5+3*len(ops))
	args = append(args, c.ID, c.Host, int64(s.TTL/time.Second), c.Window.End(), int64(s.Late/time.Second))
	for _, o := range ops {
		args = append(args, o.kind, o.field, o.value)
	}
	res, err := applyScript.Run(ctx, s.rdb, windowKeys(s.service, c.Window), args...).Text()
	if err != nil {
		return "", fmt.Errorf("redis: apply contribution %s to window %s: %w", c.ID, c.Window, err)
	}
	return res, nil
}

// Closed lists the windows in the index whose end is at or before until,
// oldest first, at most limit.
func (s *Store) Closed(ctx context.Context, until time.Time, limit int64) ([]fleet.Window, error) {
	members, err := s.rdb.ZRangeByScore(ctx, indexKey(s.service), &redis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprint(until.Unix()), Count: limit,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list windows of %s: %w", s.service, err)
	}
	out := make([]fleet.Window, 0, len(members))
	for _, m := range members {
		w, err := fleet.ParseWindow(m)
		if err != nil {
			return nil, fmt.Errorf("redis index %s: %v", indexKey(s.service), err)
		}
		out = append(out, w)
	}
	return out, nil
}

// freezeScript closes a window to contributions and returns its state and,
// unless posted already, its data and hosts. A window without keys (expired,
// or indexed by a host that has not applied yet, or never will) is left
// frozen for ARGV[1] seconds, so that an apply arriving after the
// aggregator has dropped its index entry moves to the open window instead
// of creating data that no index entry points at. Such a window has no
// hosts: it stays 'gone' when a delivery that it turned away indexes it again.
var freezeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'frozen', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return {'gone'}
end
redis.call('HSETNX', KEYS[1], 'frozen', 1)
if redis.call('HEXISTS', KEYS[1], 'posted') == 1 then return {'posted'} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'gone'} end
return {'frozen', redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[3])}
`)

// ErrPosted and ErrGone mean there is nothing to post for the window: an
// aggregator posted it already, or its keys have expired.
var (
	ErrPosted = errors.New("posted already")
	ErrGone   = errors.New("no data (expired)")
)

// Freeze closes w and reads it.
func (s *Store) Freeze(ctx context.Context, w fleet.Window) (*fleet.Frozen, error) {
	res, err := freezeScript.Run(ctx, s.rdb, windowKeys(s.service, w), int64(s.TTL/time.Second)).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis: freeze window %s: %w", w, err)
	}
	switch res[0] {
	case "gone":
		return nil, ErrGone
	case "posted":
		return nil, ErrPosted
	}
	data, err1 := pairs(res[1])
	hosts, err2 := pairs(res[2])
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("redis: window %s: %v", w, err)
	}
	f := &fleet.Frozen{Window: w, Hosts: map[string]int64{}}
	if f.All, f.Groups, err = decodeData(data); err != nil {
		return nil, fmt.Errorf("redis: window %s: %v", w, err)
	}
	for h, n := range hosts {
		c, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis: window %s: host %s: count %q", w, h, n)
		}
		f.Hosts[h] = c
	}
	return f, nil
}

func pairs(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, fmt.Errorf("unexpected reply %T", v)
	}
	m := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		val, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("unexpected reply element %T %T", list[i], list[i+1])
		}
		m[k] = val
	}
	return m, nil
}

var postedScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'posted', ARGV[1])
redis.call('DEL', KEYS[4])
return 1
`)

// MarkPosted records that w's values have been posted (or printed), drops
// its data, and takes it off the index. Its meta, ids and hosts stay until
// they expire, so a late retry is still recognised.
func (s *Store) MarkPosted(ctx context.Context, w fleet.Window, now time.Time) error {
	if err := postedScript.Run(ctx, s.rdb, windowKeys(s.service, w), now.Unix()).Err(); err != nil {
		return fmt.Errorf("redis: mark window %s posted: %w", w, err)
	}
	return s.Forget(ctx, w)
}

// Forget takes w off the index.
func (s *Store) Forget(ctx context.Context, w fleet.Window) error {
	if err := s.rdb.ZRem(ctx, indexKey(s.service), w.String()).Err(); err != nil {
		return fmt.Errorf("redis: take window %s off the index: %w", w, err)
	}
	return nil
}

// keyPrefix is the first part of every key the fleet writes.
const keyPrefix = "mackerel-fleet:"

// indexKey is the service's sorted set of windows that may still need
// posting, scored by their end.
func indexKey(service string) string { return keyPrefix + "{" + service + "}:windows" }

// windowKeys are a window's keys, all in one hash slot (one hash tag) so
// that a script can touch them together on Redis Cluster: meta (created,
// frozen, posted), the applied contribution ids, the contributing hosts, and
// the data (counters and histograms).
func windowKeys(service string, w fleet.Window) []string {
	tag := keyPrefix + "{" + service + ":" + w.String() + "}:"
	return []string{tag + "meta", tag + "ids", tag + "hosts", tag + "data"}
}
