// Package disttest checks the release archives the way users install them:
// `make dist` builds them, the real mkr (pinned in tools/go.mod) installs one
// with `mkr plugin install --prefix DIR file://…`, and what it installed runs.
package disttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMkrInstallsTheDistArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	testenv.RequireCommand(t, "zip")
	mkr := testenv.Tool(t, "mkr")
	root := testenv.RepoRoot()
	distDir := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mk := exec.CommandContext(ctx, "make", "-s", "dist", "DIST_DIR="+distDir, "PLATFORMS="+platform)
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	zip := filepath.Join(distDir, "mackerel-plugins_"+runtime.GOOS+"_"+runtime.GOARCH+".zip")
	if _, err := os.Stat(zip); err != nil {
		t.Fatalf("make dist did not write %s", zip)
	}

	prefix := t.TempDir()
	inst := exec.CommandContext(ctx, mkr, "plugin", "install", "--prefix", prefix, "file://"+zip)
	inst.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := inst.CombinedOutput(); err != nil {
		t.Fatalf("mkr plugin install: %v\n%s", err, out)
	}
	ents, err := os.ReadDir(filepath.Join(prefix, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	var installed []string
	for _, e := range ents {
		installed = append(installed, e.Name())
	}
	binaries, _ := filepath.Glob(filepath.Join(root, "*", "main.go"))
	for _, m := range binaries {
		name := filepath.Base(filepath.Dir(m))
		isPlugin := strings.HasPrefix(name, "check-") || strings.HasPrefix(name, "mackerel-plugin-")
		if got := slices.Contains(installed, name); got != isPlugin {
			t.Errorf("%s installed = %v, want %v (mkr installs check-* and mackerel-plugin-* only); installed: %v", name, got, isPlugin, installed)
		}
	}
	// What mkr installed runs: the accesslog plugin prints its graph definitions.
	cmd := exec.CommandContext(ctx, filepath.Join(prefix, "bin", "mackerel-plugin-accesslog"), "--file", "x.log")
	cmd.Env = append(os.Environ(), "MACKEREL_AGENT_PLUGIN_META=1")
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "# mackerel-agent-plugin\n") {
		t.Fatalf("installed plugin: %v %q", err, out)
	}
	ver, err := exec.CommandContext(ctx, filepath.Join(prefix, "bin", "mackerel-plugin-accesslog"), "--version").Output()
	if err != nil || strings.Contains(string(ver), " dev") {
		t.Fatalf("installed plugin --version = %q, %v: want the stamped version", ver, err)
	}
}
