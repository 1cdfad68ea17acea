package disttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestFleetInstalledWithMkr: the fleet path runs from what mkr installed,
// with nothing copied by hand: the installed plugin, given --fleet-redis as
// the README says and a $PATH without the suite, finds the installed
// mackerel-plugin-accesslog-push beside itself and delivers its run to a
// real redis-server.
func TestFleetInstalledWithMkr(t *testing.T) {
	prefix := installDist(t)
	srv := fleettest.StartRedis(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	line := "time:x\thost:192.0.2.1\treq:GET / HTTP/1.1\tstatus:200\tsize:10\treqtime:0.120\n"
	if err := os.WriteFile(logPath, []byte(line+line+line), 0o644); err != nil {
		t.Fatal(err)
	}
	r := testenv.Run(t, filepath.Join(prefix, "bin", "mackerel-plugin-accesslog"),
		[]string{"MACKEREL_PLUGIN_WORKDIR=" + dir, "PATH=" + filepath.Join(dir, "empty")},
		"--file", logPath, "--from-start", "--fleet-redis", srv.URL(), "--fleet-service", "web", "--fleet-host", "h1")
	m := testenv.Metrics(t, r.Stdout)
	if r.Code != 0 || m["accesslog.fleet.delivered_count"] != 1 || m["accesslog.fleet.pending_count"] != 0 || r.Stderr != "" {
		t.Fatalf("installed plugin: exit %d, fleet %v %v, stderr %q", r.Code, m["accesslog.fleet.delivered_count"], m["accesslog.fleet.pending_count"], r.Stderr)
	}
	keys, err := srv.Cli("--scan", "--pattern", "mackerel-fleet:{web:*}:data")
	if err != nil || len(strings.Fields(keys)) != 1 {
		t.Fatalf("window keys %q (%v)", keys, err)
	}
	if total, err := srv.Cli("hget", strings.TrimSpace(keys), "total"); err != nil || strings.TrimSpace(total) != "3" {
		t.Fatalf("window total %q (%v), want 3", total, err)
	}
}
