package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// beginScript starts an aggregator's run: it records the aggregator's grace
// for the hosts (for a day), sets gen if missing, and answers gen and
// Redis's time (seconds).
var beginScript = redis.NewScript(`
local now = redis.call('TIME')[1]
redis.call('SET', KEYS[2], now, 'NX')
redis.call('SET', KEYS[3], ARGV[1], 'EX', 86400)
return {tonumber(redis.call('GET', KEYS[2])), tonumber(now)}
`)

// Begin is what an aggregator's run is judged by.
type Begin struct {
	// Gen is when the service's data began in this Redis (Redis's clock): a
	// window that started before may have lost contributions (Redis
	// restarted empty, or new), and one that ended before is never created.
	Gen time.Time
	// Now is Redis's clock: a window is closed grace after its end by it.
	Now time.Time
}

// Begin records grace as the service's (hosts judge their windows with it)
// and reads gen and Redis's clock.
func (s *Store) Begin(ctx context.Context, grace time.Duration) (Begin, error) {
	res, err := beginScript.Run(ctx, s.rdb, s.serviceKeys(), int64(grace/time.Second)).Int64Slice()
	if err != nil {
		return Begin{}, fmt.Errorf("redis: read the time and generation of %s: %w", s.service, err)
	}
	if len(res) != 2 {
		return Begin{}, fmt.Errorf("redis: begin script answered %v", res)
	}
	return Begin{Gen: time.Unix(res[0], 0), Now: time.Unix(res[1], 0)}, nil
}

// SetGen records that the service's data in this Redis began at t. Tests
// use it to deliver to windows that ended before their Redis started.
func (s *Store) SetGen(ctx context.Context, t time.Time) error {
	return s.rdb.Set(ctx, s.serviceKeys()[1], t.Unix(), 0).Err()
}

// Closed lists the windows in the index whose end is at or before until,
// oldest first, at most limit.
func (s *Store) Closed(ctx context.Context, until time.Time, limit int64) ([]fleet.Window, error) {
	index := s.serviceKeys()[0]
	members, err := s.rdb.ZRangeByScore(ctx, index, &redis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprint(until.Unix()), Count: limit,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list windows of %s: %w", s.service, err)
	}
	out := make([]fleet.Window, 0, len(members))
	for _, m := range members {
		w, err := fleet.ParseWindow(m)
		if err != nil {
			return nil, fmt.Errorf("redis index %s: %v", index, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// freezeScript closes a window to contributions and returns its state:
// 'frozen', or 'posted' when an aggregator posted it already, or 'gone'. A
// window without keys (expired, or indexed by a host that has not applied
// yet, or never will) is left frozen for ARGV[1] seconds, so that an apply
// arriving after the aggregator has dropped its index entry moves to the
// open window instead of creating data that no index entry points at. Such
// a window has no hosts: it stays 'gone' when a delivery that it turned
// away indexes it again. The window's data, hosts and meta are read in the
// same transaction (Freeze), by Redis's own HGETALL: returned through Lua,
// a window of a million µs values (14 MB of blobs) cost Redis 0.3 s of CPU
// to copy.
var freezeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'frozen', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return 'gone'
end
redis.call('HSETNX', KEYS[1], 'frozen', 1)
if redis.call('HEXISTS', KEYS[1], 'posted') == 1 then return 'posted' end
if redis.call('EXISTS', KEYS[3]) == 0 then return 'gone' end
return 'frozen'
`)

// ErrPosted and ErrGone mean there is nothing to post for the window: an
// aggregator posted it already, or its keys have expired.
var (
	ErrPosted = errors.New("posted already")
	ErrGone   = errors.New("no data (expired)")
)

// Freeze closes w and reads it, in one transaction (MULTI/EXEC: the keys
// share a hash slot).
func (s *Store) Freeze(ctx context.Context, w fleet.Window) (*fleet.Frozen, error) {
	keys := s.windowKeys(w)
	tx := s.rdb.TxPipeline()
	state := freezeScript.Eval(ctx, tx, keys, int64(s.TTL/time.Second))
	dataCmd, hostsCmd, metaCmd := tx.HGetAll(ctx, keys[3]), tx.HGetAll(ctx, keys[2]), tx.HGetAll(ctx, keys[0])
	if _, err := tx.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis: freeze window %s: %w", w, err)
	}
	switch res, _ := state.Val().(string); res {
	case "gone":
		return nil, ErrGone
	case "posted":
		return nil, ErrPosted
	case "frozen":
	default:
		return nil, fmt.Errorf("redis: freeze script answered %v", state.Val())
	}
	data, hosts, meta := dataCmd.Val(), hostsCmd.Val(), metaCmd.Val()
	f := &fleet.Frozen{Window: w, Hosts: map[string]int64{}}
	var err error
	if f.All, f.Groups, err = decodeData(data); err != nil {
		return nil, fmt.Errorf("redis: window %s: %v", w, err)
	}
	if f.Errors, err = decodeErrors(data); err != nil {
		return nil, fmt.Errorf("redis: window %s: %v", w, err)
	}
	for h, n := range hosts {
		c, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis: window %s: host %s: count %q", w, h, n)
		}
		f.Hosts[h] = c
	}
	f.Moved, _ = strconv.ParseInt(meta["moved"], 10, 64)
	for k, v := range meta {
		if h, ok := strings.CutPrefix(k, "clock/"); ok {
			if f.OffClock == nil {
				f.OffClock = map[string]int64{}
			}
			f.OffClock[h], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return f, nil
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
	if err := postedScript.Run(ctx, s.rdb, s.windowKeys(w), now.Unix()).Err(); err != nil {
		return fmt.Errorf("redis: mark window %s posted: %w", w, err)
	}
	return s.Forget(ctx, w)
}

// Forget takes w off the index.
func (s *Store) Forget(ctx context.Context, w fleet.Window) error {
	if err := s.rdb.ZRem(ctx, s.serviceKeys()[0], w.String()).Err(); err != nil {
		return fmt.Errorf("redis: take window %s off the index: %w", w, err)
	}
	return nil
}
