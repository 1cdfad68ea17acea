package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// fleetOptions are the flags of the fleet side (embedded in options).
type fleetOptions struct {
	FleetRedis             string       `long:"fleet-redis" value-name:"URL" description:"also add what each run read to the service's window in this Redis (redis://host:port/db, rediss:// for TLS), for mackerel-service-accesslog"`
	FleetRedisPasswordFile string       `long:"fleet-redis-password-file" value-name:"FILE" description:"file holding the Redis password (else $FLEET_REDIS_PASSWORD, else the URL's)"`
	FleetRedisCAFile       string       `long:"fleet-redis-ca-file" value-name:"FILE" description:"with rediss://: PEM CA certificates to verify Redis's certificate with, instead of the system's"`
	FleetRedisCluster      bool         `long:"fleet-redis-cluster" description:"--fleet-redis names one node of a Redis Cluster"`
	FleetService           string       `long:"fleet-service" value-name:"NAME" description:"the Mackerel service this host's lines count in (needed with --fleet-redis)"`
	FleetHost              string       `long:"fleet-host" value-name:"NAME" description:"this host's name in the service's windows (default: the hostname)"`
	FleetWindow            cli.Duration `long:"fleet-window" default:"1m" value-name:"DURATION" description:"window length, whole seconds, at least 1: seconds (60) or with a unit (1m); every host of a service must use the same"`
	FleetTimeout           cli.Duration `long:"fleet-timeout" default:"5s" value-name:"DURATION" description:"time a run may spend delivering to Redis, more than 0: seconds (5) or with a unit (5s, 1500ms); what is not delivered stays in the spool for a later run"`
	FleetSpoolMax          int          `long:"fleet-spool-max" default:"1440" value-name:"N" description:"keep at most N undelivered contributions (a day of one-minute runs); beyond, the oldest are dropped and counted in fleet.dropped_count"`
}

// agentTimeout is mackerel-agent's default timeout_seconds for a plugin.
const agentTimeout = 30 * time.Second

// Warnings says when --fleet-timeout alone would outlast mackerel-agent's
// patience: the agent kills the run, and the logs' states are already saved
// (the contribution waits in the spool), but the run's metrics are lost.
func (f *fleetOptions) Warnings() []string {
	if f.FleetRedis != "" && f.FleetTimeout.D() >= agentTimeout {
		return []string{fmt.Sprintf("--fleet-timeout %s is not below mackerel-agent's default timeout_seconds (30), and a run reads the logs first: raise timeout_seconds in mackerel-agent.conf too, or the agent kills the run and its metrics are lost", f.FleetTimeout)}
	}
	return nil
}

// fleetSide adds each run's figures to the service's window: first into a
// spool file on disk (before the logs' states are saved, so that no line is
// read without being spooled), then, after the run, from the spool into
// Redis, oldest first, by mackerel-plugin-accesslog-push (installed beside
// the plugin; its code is mackerel-service-accesslog's): the plugin links no Redis client, so that a run without
// --fleet-redis stays cheap. A spooled contribution is delivered exactly
// once: its id is made of what the run started from, and Redis applies an id
// at most once per window.
type fleetSide struct {
	opts     *fleetOptions
	host     string
	spoolDir string
	idBase   string // service, host, prefix, files: what makes this plugin instance's ids its own
	stderr   io.Writer
	verbose  bool
	now      time.Time
	sp       fleet.Spool
}

func newFleetSide(o *options, stderr io.Writer, now time.Time) (*fleetSide, error) {
	f := &o.fleetOptions
	if f.FleetRedis == "" {
		if f.FleetService != "" || f.FleetHost != "" || f.FleetRedisCAFile != "" {
			return nil, errors.New("--fleet-service, --fleet-host and --fleet-redis-ca-file need --fleet-redis")
		}
		return nil, nil
	}
	if o.NoPosfile {
		// Every run would read every file whole and add it to the service again.
		return nil, errors.New("--no-posfile reads every file whole at each run: with --fleet-redis each line would be added to the service again at every run; drop one of them")
	}
	if err := fleet.CheckService(f.FleetService); err != nil {
		return nil, fmt.Errorf("--fleet-service: %v", err)
	}
	if w := f.FleetWindow.D(); w < time.Second || w%time.Second != 0 {
		return nil, fmt.Errorf("--fleet-window %v: want whole seconds, at least 1s", f.FleetWindow)
	}
	if f.FleetTimeout <= 0 {
		return nil, fmt.Errorf("--fleet-timeout %v: want more than 0s", f.FleetTimeout)
	}
	if f.FleetSpoolMax < 1 {
		return nil, fmt.Errorf("--fleet-spool-max %d: want at least 1", f.FleetSpoolMax)
	}
	// The URL and the CA file are checked now: a mistake there is a flag
	// error, not a delivery failing at every run. The password file is read
	// at delivery only: meta mode (graph definitions) needs no password, and
	// an unreadable one leaves the contribution pending.
	if err := fleet.CheckRedisFlags(f.FleetRedis, f.FleetRedisCAFile); err != nil {
		return nil, fmt.Errorf("--fleet-redis: %v", err)
	}
	host := f.FleetHost
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--fleet-host not given and no hostname: %v", err)
		}
		host = h
	}
	files := append([]string(nil), o.Files...)
	sort.Strings(files)
	key := []string{f.FleetService, host, o.Prefix, strings.Join(files, "\x00")}
	dir := o.StateDir
	if dir == "" {
		dir = state.Dir()
	}
	spoolDir := strings.TrimSuffix(state.PathIn(dir, binaryName+"-fleet", key...), ".json") + ".spool"
	return &fleetSide{
		opts:     f,
		host:     host,
		spoolDir: spoolDir,
		sp:       fleet.Spool{Dir: spoolDir},
		idBase:   strings.Join(key, "\x00"),
		stderr:   stderr,
		verbose:  o.Verbose,
		now:      now,
	}, nil
}

// spool writes the run's contribution to disk. It is called after the logs
// were read and before their states are saved. The id hashes the states the
// run started from: a run that failed before saving them is repeated from
// the same states, and its new contribution replaces the old one.
func (fs *fleetSide) spool(frs []*fileRun, st *stats) error {
	if fs == nil {
		return nil
	}
	h := sha256.New()
	io.WriteString(h, fs.idBase)
	for _, fr := range frs {
		prev, _ := json.Marshal(fr.prev)
		fmt.Fprintf(h, "\x00%s\x00%s", fr.path, prev)
	}
	// A run that read lines moves a state, which the state file then holds:
	// no later run starts from the same states. Runs that read nothing leave
	// the state files as they are: each is told from the others by the
	// clock files the previous one wrote (a torn clock file may give two of
	// them one id, and both added nothing; never one that read lines).
	if !slices.ContainsFunc(frs, func(fr *fileRun) bool { return fr.moved }) {
		io.WriteString(h, "\x00idle")
		for _, fr := range frs {
			fmt.Fprintf(h, "\x00%t\x00%s", fr.clockRaw != nil, fr.clockRaw)
		}
	}
	c := &fleet.Contribution{
		ID:      hex.EncodeToString(h.Sum(nil)[:16]),
		Service: fs.opts.FleetService,
		Host:    fs.host,
		Window:  fleet.WindowOf(fs.now, fs.opts.FleetWindow.D()),
		At:      fs.now.UnixNano(),
	}
	fleetCounts(&c.All, &st.all)
	for raw, g := range st.groups {
		fleetCounts(c.Group(metricname.Sanitize(raw)), g)
	}
	if err := os.MkdirAll(fs.spoolDir, 0o700); err != nil {
		return fmt.Errorf("fleet spool: %w", err)
	}
	if fs.verbose {
		fs.warn("spooled contribution %s: %d requests, window %s", c.ID, c.All.Total, c.Window)
	}
	return fs.sp.Save(c)
}

// fleetCounts adds the plugin's counts to the fleet's.
func fleetCounts(dst *fleet.Counts, src *counts) {
	dst.Total += src.total
	for i := range dst.Class {
		dst.Class[i] += src.class[i]
	}
	for i := range dst.Code {
		dst.Code[i] += src.code[i]
	}
	dst.Bytes += src.bytes.float() // a float in Redis too: bogus sizes cannot overflow it
	for _, p := range []struct {
		dst *fleet.Histogram
		src *histogram
	}{{&dst.ReqTime, &src.reqTime}, {&dst.Upstream, &src.upstream}} {
		p.src.fold()
		if p.dst.Counts == nil {
			p.dst.Counts = make(map[int64]uint64, len(p.src.counts))
		}
		for v, n := range p.src.counts {
			p.dst.AddN(v, n)
		}
	}
}

// findPusher finds the push command (tests give the one they built).
var findPusher = fleet.FindPusher

// deliver runs the push command on the spool, oldest run first, within
// --fleet-timeout, and adds the fleet.* metrics to values. Redis being down
// or slow, or the command missing, is said on stderr; the run's host metrics
// are printed all the same.
func (fs *fleetSide) deliver(values map[string]float64) {
	if fs == nil {
		return
	}
	r := fs.push()
	values["fleet.delivered_count"] = float64(r.Delivered)
	values["fleet.pending_count"] = float64(r.Pending)
	values["fleet.pending_requests"] = float64(r.PendingRequests)
	values["fleet.dropped_count"] = float64(r.Dropped)
}

func (fs *fleetSide) push() fleet.PushReport {
	kept := func(format string, args ...any) fleet.PushReport {
		n, requests := fs.sp.Count()
		fs.warn("%s; %d contributions kept in %s for a later run", fmt.Sprintf(format, args...), n, fs.spoolDir)
		return fleet.PushReport{Pending: n, PendingRequests: requests}
	}
	bin, err := findPusher()
	if err != nil {
		return kept("%v", err)
	}
	r, warnings, err := fleet.RunPush(bin, &fleet.PushRequest{
		Spool: fs.spoolDir, URL: fs.opts.FleetRedis, PasswordFile: fs.opts.FleetRedisPasswordFile,
		CAFile: fs.opts.FleetRedisCAFile, Cluster: fs.opts.FleetRedisCluster, Service: fs.opts.FleetService,
		Timeout: fs.opts.FleetTimeout.D(), SpoolMax: fs.opts.FleetSpoolMax, Now: fs.now.UnixNano(), Verbose: fs.verbose,
	})
	for _, w := range warnings {
		fs.warn("%s", w)
	}
	if err != nil {
		return kept("%v", err)
	}
	return r
}

func (fs *fleetSide) warn(format string, args ...any) {
	fmt.Fprintf(fs.stderr, "%s: fleet: %s\n", binaryName, fmt.Sprintf(format, args...))
}
