package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// indexScript records a window in the service's index and answers what a
// delivery is judged by: the service's gen (set now if missing: this Redis
// holds no earlier data of the service), the recorded grace (-1: none) and
// Redis's clock (seconds, microseconds).
var indexScript = redis.NewScript(`
local t = redis.call('TIME')
redis.call('SET', KEYS[2], t[1], 'NX')
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return {tonumber(redis.call('GET', KEYS[2])), tonumber(redis.call('GET', KEYS[3]) or -1), tonumber(t[1]), tonumber(t[2])}
`)

// applyScript adds a contribution to a window in one step, once per id,
// judged by Redis's clock: 'dup' when the id was applied already (a retried
// delivery); 'closed' (with Redis's time) when an aggregator has frozen the
// window, when the window ended before the service's data began in this
// Redis (it may have been posted before a restart emptied Redis: it is never
// created again), or when Redis's time is not within the grace of the window
// (a host whose clock is off, or a delivery held back); else 'applied'.
// ARGV: id, host, ttl, start, end, gen, grace, moved (0/1), clock offset
// (this host's minus Redis's, whole seconds, "" when within the grace), then
// the data ops.
var applyScript = redis.NewScript(`
local meta, ids, hosts, data = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('SISMEMBER', ids, ARGV[1]) == 1 then return {'dup'} end
local now = tonumber(redis.call('TIME')[1])
local wstart, wend, gen, grace = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('HEXISTS', meta, 'frozen') == 1 or wend <= gen or now >= wend + grace or now < wstart - grace then
  return {'closed', now}
end
redis.call('HSETNX', meta, 'created', now)
for i = 10, #ARGV, 3 do
  local f, v = ARGV[i+1], ARGV[i+2]
  if ARGV[i] == 'i' then
    redis.call('HINCRBY', data, f, v)
  elseif ARGV[i] == 'f' then
    redis.call('HINCRBYFLOAT', data, f, v)
  elseif ARGV[i] == 'b' then
    redis.call('HSET', data, f, v)
  elseif ARGV[i] == 's' then
    redis.call('HSETNX', data, f, v)
  else
    local cur = redis.call('HGET', data, f)
    if not cur or tonumber(v) > tonumber(cur) then redis.call('HSET', data, f, v) end
  end
end
redis.call('SADD', ids, ARGV[1])
redis.call('HINCRBY', hosts, ARGV[2], 1)
if ARGV[8] == '1' then redis.call('HINCRBY', meta, 'moved', 1) end
if ARGV[9] ~= '' then redis.call('HSET', meta, 'clock/' .. ARGV[2], ARGV[9]) end
for _, k in ipairs(KEYS) do redis.call('EXPIRE', k, ARGV[3]) end
return {'applied'}
`)

// Outcome is what a delivery did.
type Outcome string

const (
	Applied Outcome = "applied" // added to its window now
	Dup     Outcome = "dup"     // had been added before (a retry): nothing done
)

// Deliver adds c to its window, exactly once however often it is retried,
// and records the window in the service's index. The window is judged by
// Redis's clock, not this host's: when it is closed (frozen, older than the
// service's data in this Redis, or not within the grace of Redis's time), c
// moves to the window open by Redis's clock: retarget is called with c
// changed before it is applied there, and must persist it (so that a retry
// after a failure goes to the same window and is recognised as a
// duplicate); nil when c is not kept anywhere.
//
// The window goes into the index before c is applied, so that a host that
// dies for good between the two steps leaves at worst an index entry
// without data (which an aggregator drops), never data without an entry
// (which no aggregator would find). The index and the window are in
// different hash slots, so one script cannot write both on Redis Cluster.
func (s *Store) Deliver(ctx context.Context, c *fleet.Contribution, retarget func(*fleet.Contribution) error) (Outcome, error) {
	for range 4 {
		w := c.Window
		gen, err := s.index(ctx, w)
		if err != nil {
			return "", err
		}
		if err := s.hook("indexed"); err != nil {
			return "", err
		}
		res, now, err := s.apply(ctx, c, gen)
		if err != nil {
			return "", err
		}
		if err := s.hook("applied"); err != nil {
			return "", err
		}
		if res != "closed" {
			return Outcome(res), nil
		}
		next := fleet.WindowOf(time.Unix(now, 0), time.Duration(w.Len)*time.Second)
		if next == w {
			return "", fmt.Errorf("redis: window %s is closed at Redis's time %d, which is in it", w, now)
		}
		c.Window, c.Moved = next, true
		if retarget != nil {
			if err := retarget(c); err != nil {
				return "", err
			}
		}
	}
	return "", errors.New("redis: every window tried was closed")
}

// index records w in the index and reads the service's gen, grace and
// Redis's clock, which it compares with this host's.
func (s *Store) index(ctx context.Context, w fleet.Window) (gen int64, err error) {
	sent := s.Clock()
	res, err := indexScript.Run(ctx, s.rdb, s.serviceKeys(), w.End(), w.String()).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("redis: index window %s: %w", w, err)
	}
	if len(res) != 4 {
		return 0, fmt.Errorf("redis: index script answered %v", res)
	}
	local := sent.Add(s.Clock().Sub(sent) / 2)
	s.offset = local.Sub(time.Unix(res[2], res[3]*1000))
	switch {
	case s.Grace > 0:
		s.grace = s.Grace
	case res[1] >= 0:
		s.grace = time.Duration(res[1]) * time.Second
	default:
		s.grace = DefaultGrace
	}
	return res[0], nil
}

// ClockOffset is this host's clock minus Redis's at the last delivery
// (negative: behind), and
// the grace the delivery was judged with: a host whose offset is beyond the
// grace has its contributions moved to the window open by Redis's clock.
func (s *Store) ClockOffset() (offset, grace time.Duration) { return s.offset, s.grace }

// OffClock says whether an offset is beyond the grace.
func OffClock(offset, grace time.Duration) bool { return offset > grace || -offset > grace }

func (s *Store) apply(ctx context.Context, c *fleet.Contribution, gen int64) (string, int64, error) {
	ops := contributionOps(c)
	moved, offset := "0", ""
	if c.Moved {
		moved = "1"
	}
	if OffClock(s.offset, s.grace) {
		offset = strconv.FormatInt(int64(s.offset.Round(time.Second)/time.Second), 10)
	}
	args := make([]any, 0, 9+3*len(ops))
	args = append(args, c.ID, c.Host, int64(s.TTL/time.Second), c.Window.Start, c.Window.End(), gen, int64(s.grace/time.Second), moved, offset)
	for _, o := range ops {
		args = append(args, o.kind, o.field, o.value)
	}
	res, err := applyScript.Run(ctx, s.rdb, s.windowKeys(c.Window), args...).Slice()
	if err != nil {
		return "", 0, fmt.Errorf("redis: apply contribution %s to window %s: %w", c.ID, c.Window, err)
	}
	out, _ := res[0].(string)
	switch out {
	case "applied", "dup":
		return out, 0, nil
	case "closed":
		if now, ok := res[1].(int64); ok && len(res) == 2 {
			return out, now, nil
		}
	}
	return "", 0, fmt.Errorf("redis: apply script answered %v", res)
}

// hook lets tests stop a delivery between its steps, as a host that dies.
func (s *Store) hook(step string) error {
	if s.testHook == nil {
		return nil
	}
	return s.testHook(step)
}
