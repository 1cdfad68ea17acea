package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/loggen"
)

// BenchmarkRunFleet is one agent run over a minute of a busy host's log
// (60,000 LTSV lines, 1,000 requests/s, grouped by vhost), without and with
// --fleet-redis (spool written, delivered to a real redis-server by the push command, spool
// removed). cpu-ms/op is the user+system CPU per run, the push command's
// included: the fleet's added cost is the difference.
func BenchmarkRunFleet(b *testing.B) {
	dir := b.TempDir()
	logPath := filepath.Join(dir, "access.log")
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := loggen.Write(f, 60000, "ltsv", 1); err != nil {
		b.Fatal(err)
	}
	f.Close()
	srv := fleettest.StartRedis(b)
	usePusher(b)
	p, err := NewParser("ltsv", "", Fields{GroupBy: "vhost"})
	if err != nil {
		b.Fatal(err)
	}
	for _, withFleet := range []bool{false, true} {
		name := "without"
		if withFleet {
			name = "with-fleet"
		}
		b.Run(name, func(b *testing.B) {
			start := cpuTime()
			i := 0
			for b.Loop() {
				i++
				opts := options{Files: []string{logPath}, Format: "ltsv", Prefix: "accesslog", GroupBy: "vhost", MaxReadBytes: 1 << 40, MaxLineBytes: 256 << 10,
					FromStart: true, StateDir: filepath.Join(dir, "state", name, time.Now().Format("150405.000000000"))}
				if withFleet {
					opts.FleetRedis, opts.FleetService, opts.FleetHost = srv.URL(), "bench", "h"
					opts.FleetWindow, opts.FleetTimeout, opts.FleetSpoolMax = cli.Duration(time.Minute), cli.Duration(10*time.Second), 10
				}
				now := time.Now()
				fs, err := newFleetSide(&opts, io.Discard, now)
				if err != nil {
					b.Fatal(err)
				}
				rn := &runner{opts: &opts, parser: namedParser{"ltsv", p}, stderr: io.Discard, now: now, fleet: fs}
				res, err := rn.Run()
				if err != nil {
					b.Fatal(err)
				}
				v := values(res, 20)
				fs.deliver(v)
				if withFleet && v["fleet.delivered_count"] != 1 {
					b.Fatalf("not delivered: %v", v["fleet.delivered_count"])
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(i), "cpu-ms/op")
		})
	}
}

// cpuTime is this process's CPU time and its waited-for children's (the
// push command).
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano())
}
