// Package disttest checks the release archives the way users install them:
// `make dist` builds them, the real mkr (pinned in tools/go.mod) installs one
// with `mkr plugin install --prefix DIR file://…`, and what it installed runs.
package disttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

var (
	installOnce   sync.Once
	installPrefix string
	installErr    string
)

// installDist builds the `make dist` zip for this platform and installs it
// with the real mkr into a temporary prefix, once per test binary; it
// returns the prefix.
func installDist(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds every binary")
	}
	testenv.RequireCommand(t, "zip")
	mkr := testenv.Tool(t, "mkr")
	installOnce.Do(func() { installPrefix, installErr = buildAndInstall(mkr) })
	if installErr != "" {
		t.Fatal(installErr)
	}
	return installPrefix
}

func buildAndInstall(mkr string) (prefix, failure string) {
	root := testenv.RepoRoot()
	tmp, err := os.MkdirTemp("", "disttest-")
	if err != nil {
		return "", err.Error()
	}
	distDir, prefix, home := filepath.Join(tmp, "dist"), filepath.Join(tmp, "prefix"), filepath.Join(tmp, "home")
	platform := runtime.GOOS + "/" + runtime.GOARCH
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mk := exec.CommandContext(ctx, "make", "-s", "dist", "DIST_DIR="+distDir, "PLATFORMS="+platform)
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("make dist: %v\n%s", err, out)
	}
	zip := filepath.Join(distDir, "mackerel-plugins_"+runtime.GOOS+"_"+runtime.GOARCH+".zip")
	if _, err := os.Stat(zip); err != nil {
		return "", "make dist did not write " + zip
	}
	inst := exec.CommandContext(ctx, mkr, "plugin", "install", "--prefix", prefix, "file://"+zip)
	inst.Env = append(os.Environ(), "HOME="+home)
	if out, err := inst.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("mkr plugin install: %v\n%s", err, out)
	}
	return prefix, ""
}

func TestMain(m *testing.M) {
	code := m.Run()
	if installPrefix != "" {
		os.RemoveAll(filepath.Dir(installPrefix))
	}
	testenv.Cleanup()
	os.Exit(code)
}

func TestMkrInstallsTheDistArchive(t *testing.T) {
	prefix := installDist(t)
	root := testenv.RepoRoot()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
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
	if !slices.Contains(installed, "mackerel-plugin-accesslog-push") {
		t.Errorf("mackerel-plugin-accesslog-push not installed: %v", installed)
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
