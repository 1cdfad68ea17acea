package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// fleetOptions add each run's groups to the service's window in Redis, for
// the fleet's Slack post (--fleet-post). The flags are hidden until the
// fleet path is complete.
type fleetOptions struct {
	FleetRedis             string         `long:"fleet-redis" value-name:"URL" description:"also add each run's groups to the service's window in this Redis (redis://host:port/db, rediss:// for TLS; no password in it: a flag shows in ps)"`
	FleetRedisPasswordFile string         `long:"fleet-redis-password-file" value-name:"FILE" description:"file holding the Redis password (else $FLEET_REDIS_PASSWORD)"`
	FleetRedisCAFile       string         `long:"fleet-redis-ca-file" value-name:"FILE" description:"with rediss://: PEM CA certificates to verify Redis's certificate with, instead of the system's"`
	FleetRedisCluster      bool           `long:"fleet-redis-cluster" description:"--fleet-redis names one node of a Redis Cluster"`
	FleetService           string         `long:"fleet-service" value-name:"NAME" description:"the service whose error log this host's groups count in (needed with --fleet-redis)"`
	FleetTimeout           check.Duration `long:"fleet-timeout" default:"5s" value-name:"DURATION" description:"time a run may spend on Redis; what is not delivered stays in the spool for a later run"`
	FleetSpoolMax          int            `long:"fleet-spool-max" default:"1440" value-name:"N" description:"keep at most N undelivered contributions; beyond, the oldest are dropped and said"`
	FleetPost              bool           `long:"fleet-post" description:"instead of reading logs, post the service's error groups of every closed minute to Slack, one message per minute (needs --fleet-redis, --fleet-service and a webhook)"`
	FleetGrace             check.Duration `long:"fleet-grace" default:"30s" value-name:"DURATION" description:"with --fleet-post: a minute is closed this long after its end (by Redis's clock), for late hosts"`
}

// fleetWindow is the length of the service's windows: one Slack post a
// minute (tests shorten it).
var fleetWindow = time.Minute

// checkFleet validates the fleet flags. The URL may hold no password: a
// flag shows in ps, and the URL is written to no file.
func checkFleet(f *fleetOptions) error {
	if f.FleetRedis == "" {
		if f.FleetPost {
			return errors.New("--fleet-post needs --fleet-redis and --fleet-service")
		}
		if f.FleetService != "" || f.FleetRedisPasswordFile != "" || f.FleetRedisCAFile != "" {
			return errors.New("--fleet-service, --fleet-redis-password-file and --fleet-redis-ca-file need --fleet-redis")
		}
		return nil
	}
	if err := fleet.CheckService(f.FleetService); err != nil {
		return fmt.Errorf("--fleet-service: %v", err)
	}
	if err := fleet.CheckRedisFlags(f.FleetRedis, f.FleetRedisCAFile); err != nil {
		return fmt.Errorf("--fleet-redis: %v", err)
	}
	if u, err := url.Parse(f.FleetRedis); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return fmt.Errorf("--fleet-redis %s holds a password, which ps shows: give it in --fleet-redis-password-file or $%s", fleet.RedactURL(f.FleetRedis), fleet.PasswordEnv)
		}
	}
	switch {
	case f.FleetTimeout.D() <= 0:
		return fmt.Errorf("--fleet-timeout %v: want more than 0s", f.FleetTimeout)
	case f.FleetGrace.D() < 0:
		return fmt.Errorf("--fleet-grace %v: want 0s or more", f.FleetGrace)
	case f.FleetSpoolMax < 1:
		return fmt.Errorf("--fleet-spool-max %d: want at least 1", f.FleetSpoolMax)
	}
	return nil
}

// spoolDir is where this check's contributions wait for delivery: beside
// its state file.
func (c *config) spoolDir() string { return strings.TrimSuffix(c.statePath, ".json") + ".fleet-spool" }

// spoolFleet writes the run's groups to the spool, before the state that
// moves the offsets is saved: no error is read without being spooled. The
// id hashes the offsets the run started from, so a run repeated after a
// crash replaces its contribution instead of adding a second one.
func (c *config) spoolFleet(started []byte, f *findings, now time.Time) error {
	if c.o.FleetRedis == "" || f.total == 0 {
		return nil
	}
	h := sha256.Sum256(append([]byte(c.statePath+"\x00"), started...))
	con := &fleet.Contribution{
		ID: hex.EncodeToString(h[:16]), Service: c.o.FleetService, Host: c.host,
		Window: fleet.WindowOf(now, fleetWindow), At: now.UnixNano(),
	}
	for _, g := range f.groups {
		con.Errors = append(con.Errors, fleet.ErrorGroup{
			Message: fleet.CutText(g.Key, fleet.MaxErrorText),
			Example: fleet.CutText(strings.Join(g.Example, "\n"), fleet.MaxErrorText),
			Count:   uint64(g.Count),
		})
	}
	if err := os.MkdirAll(c.spoolDir(), 0o700); err != nil {
		return fmt.Errorf("fleet spool: %w", err)
	}
	return fleet.Spool{Dir: c.spoolDir()}.Save(con)
}

// offsetsOf is what a run starts from, for spoolFleet's id.
func offsetsOf(st *savedState) []byte {
	b, _ := json.Marshal(st.Logs)
	return b
}

// fleetTimeout is --fleet-timeout, shortened to what the run's --timeout
// leaves (the push program's start and a last save kept aside).
func (c *config) fleetTimeout(ctx context.Context) time.Duration {
	t := c.o.FleetTimeout.D()
	if d, ok := ctx.Deadline(); ok {
		t = min(t, time.Until(d)-fleet.PushGrace-300*time.Millisecond)
	}
	return t
}

// findPusher finds the push command (tests give the one they built).
var findPusher = fleet.FindPusher

// deliverFleet hands the spool to the push command, and says in one line
// what is left, or "" when all was delivered.
func (c *config) deliverFleet(ctx context.Context, now time.Time) string {
	if c.o.FleetRedis == "" {
		return ""
	}
	sp := fleet.Spool{Dir: c.spoolDir()}
	if n, _ := sp.Count(); n == 0 {
		return ""
	}
	kept := func(why string) string {
		n, _ := sp.Count()
		return fmt.Sprintf("fleet: %s; %s kept for a later run", why, plural(n, "contribution", "contributions"))
	}
	timeout := c.fleetTimeout(ctx)
	if timeout <= 0 {
		return kept("no time left in this run (--timeout)")
	}
	bin, err := findPusher()
	if err != nil {
		return kept(err.Error())
	}
	r, warnings, err := fleet.RunPush(bin, &fleet.PushRequest{
		Spool: c.spoolDir(), URL: c.o.FleetRedis, PasswordFile: c.o.FleetRedisPasswordFile,
		CAFile: c.o.FleetRedisCAFile, Cluster: c.o.FleetRedisCluster, Service: c.o.FleetService,
		Kind: fleet.KindErrors, Timeout: timeout, SpoolMax: c.o.FleetSpoolMax, Now: now.UnixNano(),
	})
	if err != nil {
		return kept(err.Error())
	}
	var parts []string
	for _, w := range warnings {
		parts = append(parts, "fleet: "+w)
	}
	if r.Pending > 0 && len(warnings) == 0 {
		parts = append(parts, fmt.Sprintf("fleet: %s not delivered yet", plural(r.Pending, "contribution", "contributions")))
	}
	return strings.Join(parts, "\n")
}
