package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	mp "github.com/mackerelio/go-mackerel-plugin"
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

func (f *fleetOptions) redisConfig() fleet.Config {
	return fleet.Config{
		URL: f.FleetRedis, PasswordFile: f.FleetRedisPasswordFile, CAFile: f.FleetRedisCAFile, Cluster: f.FleetRedisCluster,
		Timeout: min(2*time.Second, f.FleetTimeout.D()),
	}
}

// fleetSide adds each run's figures to the service's window: first into a
// spool file on disk (before the logs' states are saved, so that no line is
// read without being spooled), then, after the run, from the spool into
// Redis, oldest first. A spooled contribution is delivered exactly once: its
// id is made of what the run started from, and Redis applies an id at most
// once per window.
type fleetSide struct {
	opts     *fleetOptions
	host     string
	spoolDir string
	idBase   string // service, host, prefix, files: what makes this plugin instance's ids its own
	stderr   io.Writer
	verbose  bool
	now      time.Time
	current  *fleet.Contribution // this run's, so that it is not read back from disk
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
	// The URL and the CA file are read now (Open does not dial): a mistake
	// there is a flag error, not a delivery failing at every run. The password
	// file is read at delivery only: meta mode (graph definitions) needs no
	// password, and an unreadable one leaves the contribution pending.
	cfg := f.redisConfig()
	cfg.PasswordFile = ""
	st, err := fleet.Open(cfg, f.FleetService)
	if err != nil {
		return nil, fmt.Errorf("--fleet-redis: %v", err)
	}
	st.Close()
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
	return &fleetSide{
		opts:     f,
		host:     host,
		spoolDir: strings.TrimSuffix(state.PathIn(dir, binaryName+"-fleet", key...), ".json") + ".spool",
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
	fs.current = c
	if fs.verbose {
		fs.warn("spooled contribution %s: %d requests, window %s", c.ID, c.All.Total, c.Window)
	}
	return fs.save(c)
}

func (fs *fleetSide) path(c *fleet.Contribution) string {
	return filepath.Join(fs.spoolDir, c.ID+".json")
}

func (fs *fleetSide) save(c *fleet.Contribution) error {
	if err := state.Save(fs.path(c), c); err != nil {
		return fmt.Errorf("fleet spool: %w", err)
	}
	return nil
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

// fleetReport is what a delivery leaves to report.
type fleetReport struct {
	delivered, pending, dropped int
	pendingRequests             uint64
}

// deliver sends every spooled contribution to Redis, oldest run first,
// within --fleet-timeout, and adds the fleet.* metrics to values. Redis
// being down or slow is said on stderr; the run's host metrics are printed
// all the same.
func (fs *fleetSide) deliver(values map[string]float64) {
	if fs == nil {
		return
	}
	r := fs.deliverSpool()
	values["fleet.delivered_count"] = float64(r.delivered)
	values["fleet.pending_count"] = float64(r.pending)
	values["fleet.pending_requests"] = float64(r.pendingRequests)
	values["fleet.dropped_count"] = float64(r.dropped)
}

func (fs *fleetSide) deliverSpool() fleetReport {
	var r fleetReport
	unlock, err := state.Lock(fs.spoolDir)
	if err != nil { // another run of this instance is delivering
		fs.warn("%v: not delivering in this run", err)
		r.pending, r.pendingRequests = fs.count()
		return r
	}
	defer unlock()
	all, err := fs.load()
	if err != nil {
		fs.warn("%v", err)
	}
	// A contribution spooled by a run that began after this one is left to
	// that run: it may yet fail to save its logs' states and be repeated
	// under the same id with more lines.
	var spooled, later []*fleet.Contribution
	for _, c := range all {
		if c.At > fs.now.UnixNano() {
			later = append(later, c)
		} else {
			spooled = append(spooled, c)
		}
	}
	for _, c := range later {
		r.pending++
		r.pendingRequests += c.All.Total
	}
	if len(spooled) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), fs.opts.FleetTimeout.D())
		defer cancel()
		r.delivered, err = fs.send(ctx, spooled)
		left := spooled[r.delivered:]
		if over := len(left) - fs.opts.FleetSpoolMax; over > 0 {
			r.dropped = fs.drop(left[:over])
			left = left[over:]
		}
		if err != nil {
			fs.warn("%v; %d contributions kept in %s for a later run", err, len(left), fs.spoolDir)
		}
		for _, c := range left {
			r.pending++
			r.pendingRequests += c.All.Total
		}
	}
	return r
}

// drop removes the oldest undelivered contributions when the spool is
// full, and says what was lost.
func (fs *fleetSide) drop(oldest []*fleet.Contribution) int {
	var requests uint64
	n := 0
	for _, c := range oldest {
		if err := os.Remove(fs.path(c)); err == nil {
			n++
			requests += c.All.Total
		}
	}
	fs.warn("spool over --fleet-spool-max %d: dropped the %d oldest contributions (%d requests, windows from %s); they will not count in the service's metrics",
		fs.opts.FleetSpoolMax, n, requests, oldest[0].Window)
	return n
}

func (fs *fleetSide) send(ctx context.Context, spooled []*fleet.Contribution) (int, error) {
	st, err := fleet.Open(fs.opts.redisConfig(), fs.opts.FleetService)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	for i, c := range spooled {
		out, err := st.Deliver(ctx, c, time.Now, fs.save)
		if err != nil {
			return i, err
		}
		if fs.verbose {
			fs.warn("delivered contribution %s: %d requests, window %s (%s)", c.ID, c.All.Total, c.Window, out)
		}
		if err := os.Remove(fs.path(c)); err != nil {
			return i, fmt.Errorf("fleet spool: delivered but not removed: %w", err) // a later run finds it a duplicate
		}
	}
	return len(spooled), nil
}

// load reads the spool, oldest run first. An unreadable file is set
// aside (renamed *.bad), so that it never blocks the others.
func (fs *fleetSide) load() ([]*fleet.Contribution, error) {
	names, err := filepath.Glob(filepath.Join(fs.spoolDir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*fleet.Contribution
	var bad []string
	for _, n := range names {
		if fs.current != nil && filepath.Base(n) == fs.current.ID+".json" {
			out = append(out, fs.current)
			continue
		}
		var c fleet.Contribution
		if err := state.Load(n, &c); err != nil || c.ID+".json" != filepath.Base(n) {
			os.Rename(n, n+".bad")
			bad = append(bad, filepath.Base(n))
			continue
		}
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].At != out[j].At {
			return out[i].At < out[j].At
		}
		return out[i].ID < out[j].ID
	})
	if len(bad) > 0 {
		return out, fmt.Errorf("fleet spool %s: set aside unreadable %v (renamed *.bad)", fs.spoolDir, bad)
	}
	return out, nil
}

func (fs *fleetSide) count() (n int, requests uint64) {
	cs, _ := fs.load()
	for _, c := range cs {
		n++
		requests += c.All.Total
	}
	return n, requests
}

func (fs *fleetSide) warn(format string, args ...any) {
	fmt.Fprintf(fs.stderr, "%s: fleet: %s\n", binaryName, fmt.Sprintf(format, args...))
}

// fleetPlugin adds the fleet graph to the plugin's graph definitions.
type fleetPlugin struct{ *plugin }

func (fs *fleetSide) wrap(p *plugin) mp.PluginWithPrefix {
	if fs == nil {
		return p
	}
	return fleetPlugin{p}
}

func (p fleetPlugin) GraphDefinition() map[string]mp.Graphs {
	g := p.plugin.GraphDefinition()
	{
		g["fleet"] = mp.Graphs{Label: "Fleet contributions to Redis", Unit: mp.UnitInteger, Metrics: []mp.Metrics{
			{Name: "delivered_count", Label: "delivered this run"},
			{Name: "pending_count", Label: "pending (spooled)"},
			{Name: "pending_requests", Label: "requests pending"},
			{Name: "dropped_count", Label: "dropped (spool full)"},
		}}
	}
	return g
}
