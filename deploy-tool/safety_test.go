package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

func (r *rig) runTool(args ...string) (int, string) {
	r.t.Helper()
	path := r.write()
	var out bytes.Buffer
	code := run(append([]string{args[0], "--config", path}, args[1:]...), strings.NewReader(""), &out, &out)
	r.t.Logf("%v: exit %d\n%s", args, code, out.String())
	return code, out.String()
}

// A webhook that cannot be reached is reported without its URL's path,
// which is the secret of a Slack webhook; so are balancer passwords.
func TestSecretsNeverPrinted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now: the post fails
	const key = "T0000/B0000/SECRETxSECRETxSECRET"
	r := newRig(t, 2)
	r.top = "notify_webhook = \"http://" + dead + "/services/" + key + "\""
	code, out := r.rollout()
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "notify: webhook http://"+dead+"/…") {
		t.Error("the unreachable webhook is not reported")
	}
	if strings.Contains(out, "SECRET") {
		t.Error("the webhook's secret path is printed")
	}

	// In a config error: the value is not echoed.
	r.top = "notify_webhook = \"ftp://hooks/" + key + "\""
	path := r.write()
	var errOut bytes.Buffer
	if code := run([]string{"status", "--config", path}, nil, &errOut, &errOut); code != exitUsage || strings.Contains(errOut.String(), "SECRET") {
		t.Errorf("config error: exit %d %q", code, errOut.String())
	}

	// Redaction of a balancer password wherever an error could carry it.
	r.top = ""
	cfg := &config.Config{Balancers: nil, NotifyWebhook: "https://hooks.example/services/" + key}
	cfg.Balancers = append(cfg.Balancers, r.fakesConfig(t)...)
	cfg.Balancers[0].URL = "http://admin:hunter2pw@127.0.0.1:1/dynamic"
	msg := cfg.Redact("post https://hooks.example/services/" + key + ": Get http://admin:hunter2pw@127.0.0.1:1/dynamic: refused")
	if strings.Contains(msg, "SECRET") || strings.Contains(msg, "hunter2pw") {
		t.Errorf("not redacted: %s", msg)
	}
}

func (r *rig) fakesConfig(t *testing.T) []balancer.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(r.config()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Balancers
}

func TestCheckReportsItsOwnFailuresAsUnknown(t *testing.T) {
	r := newRig(t, 2)
	// A state directory the check cannot use: a regular file in its place.
	work := filepath.Join(r.dir, "work")
	os.WriteFile(work, []byte("x"), 0o600)
	path := r.write()
	t.Setenv("MACKEREL_PLUGIN_WORKDIR", work)
	var out bytes.Buffer
	code := run([]string{"check", "--config", path}, nil, &out, &out)
	if code != 3 || !strings.Contains(out.String(), "deploy-tool UNKNOWN") || !strings.Contains(out.String(), "check's state") {
		t.Errorf("unusable state dir: exit %d %q", code, out.String())
	}

	// A corrupt journal blocks every rollout: check and status say so.
	t.Setenv("MACKEREL_PLUGIN_WORKDIR", r.dir)
	os.MkdirAll(filepath.Join(r.dir, "state"), 0o700)
	os.WriteFile(filepath.Join(r.dir, "state", "deploy-tool.journal.json"), []byte(`{"servers": [`), 0o600)
	out.Reset()
	code = run([]string{"check", "--config", path}, nil, &out, &out)
	if code != 3 || !strings.Contains(out.String(), "corrupt") || !strings.Contains(out.String(), "every rollout is refused") {
		t.Errorf("corrupt journal: check exit %d %q", code, out.String())
	}
	out.Reset()
	code = run([]string{"status", "--config", path}, nil, &out, &out)
	if code != exitFailed || !strings.Contains(out.String(), "corrupt") {
		t.Errorf("corrupt journal: status exit %d %q", code, out.String())
	}
	if c, o := r.rollout(); c != exitRefused || !strings.Contains(o, "corrupt") {
		t.Errorf("corrupt journal: rollout exit %d", c)
	}
}

func TestStatusShowsAnUnfinishedRollout(t *testing.T) {
	r := newRig(t, 2)
	r.command = "test {port} != " + port(r.addrs[1])
	if code, _ := r.rollout(); code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	code, out := r.runTool("status")
	if code != exitOK || !strings.Contains(out, "UNFINISHED") || !strings.Contains(out, r.addrs[1]+"\tfailed") && !strings.Contains(out, r.addrs[1]+"  failed") {
		t.Errorf("status: exit %d", code)
	}
}

// A state directory another user could write, or a symlink planted as the
// lock, is refused with the directory named; nothing is touched.
func TestPlantedStateIsRefused(t *testing.T) {
	r := newRig(t, 2)
	state := filepath.Join(r.dir, "state")
	os.Mkdir(state, 0o700)
	os.Chmod(state, 0o777)
	code, out := r.rollout()
	if code != exitRefused || !strings.Contains(out, state) || !strings.Contains(out, "chmod 700") {
		t.Errorf("0777 state dir: exit %d", code)
	}
	os.Chmod(state, 0o700)
	victim := filepath.Join(r.dir, "victim")
	os.WriteFile(victim, []byte("keep me\n"), 0o600)
	os.Symlink(victim, filepath.Join(state, "deploy-tool.lock"))
	for _, sub := range [][]string{{"rollout"}, {"down", r.addrs[0]}, {"up", r.addrs[0]}} {
		code, out := r.runTool(sub...)
		if code != exitRefused || !strings.Contains(out, "symlink") {
			t.Errorf("%s with a symlinked lock: exit %d", sub[0], code)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("the symlink was followed: victim now %q", b)
	}
	for _, f := range r.fakes {
		if len(f.callLog()) != 0 {
			t.Errorf("%s was touched", f.name)
		}
	}
}

// A deploy command that exits 0 and leaves a background process holding its
// output succeeds, with a note; its exit status is the verdict.
func TestBackgroundChildHoldingOutputIsNotAFailure(t *testing.T) {
	r := newRig(t, 2)
	pids := filepath.Join(r.dir, "pids")
	t.Cleanup(func() { killPIDs(t, pids) })
	r.command = "echo {port} >> " + filepath.Join(r.dir, "deployed") + "; sleep 60 & echo $! >> " + pids + "; echo started"
	t0 := time.Now()
	code, out := r.rollout()
	if code != exitOK || !strings.Contains(out, "still holds its output open") {
		t.Fatalf("exit %d after %v", code, time.Since(t0))
	}
	r.wantStates(nil)
	if len(r.deployed()) != 2 {
		t.Errorf("deployed %v", r.deployed())
	}
	// Control: the same command failing is still a failure.
	r2 := newRig(t, 2)
	r2.command = "sleep 60 & echo $! >> " + pids + "; exit 4"
	if code, _ := r2.rollout(); code != exitFailed {
		t.Errorf("failing command with a background child: exit %d, want %d", code, exitFailed)
	}
}

// --dry-run makes the checks the real run makes and exits as it would.
func TestDryRunExitsAsTheRealRunWould(t *testing.T) {
	cases := []struct {
		name, top, health string
		want              int
		says              string
	}{
		{"unknown placeholder", "", "http://{hostname}/healthz", exitUsage, "unknown placeholder {hostname}"},
		{"batch larger than the servers", "batch = 5\nmax_unavailable = 5", "", exitRefused, "fewer than min_up 1"},
		{"max_unavailable larger than the servers", "batch = \"100%\"\nmax_unavailable = 9", "", exitRefused, "fewer than min_up 1"},
		{"min_up above the servers", "min_up = 4", "", exitRefused, "fewer than min_up 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, dry := range []bool{true, false} {
				r := newRig(t, 3)
				r.top = c.top
				path := r.write()
				if c.health != "" {
					b, _ := os.ReadFile(path)
					os.WriteFile(path, []byte(strings.Replace(string(b), "http://{addr}/healthz", c.health, 1)), 0o600)
				}
				args := []string{"rollout", "--config", path}
				if dry {
					args = append(args, "--dry-run")
				}
				var out bytes.Buffer
				code := run(args, strings.NewReader(""), &out, &out)
				t.Logf("dry-run %v: exit %d\n%s", dry, code, out.String())
				if code != c.want || !strings.Contains(out.String(), c.says) {
					t.Errorf("dry-run %v: exit %d, want %d saying %q", dry, code, c.want, c.says)
				}
				if strings.Contains(out.String(), "--resume") {
					t.Errorf("dry-run %v: suggests a --resume with nothing to resume", dry)
				}
				if r.journal() != nil {
					t.Errorf("dry-run %v: a journal was left", dry)
				}
				for _, f := range r.fakes {
					if len(f.callLog()) != 0 {
						t.Errorf("dry-run %v: %s was touched", dry, f.name)
					}
				}
			}
		})
	}
}

// killPIDs stops the background processes a test's commands recorded.
func killPIDs(t *testing.T, file string) {
	b, _ := os.ReadFile(file)
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// A deploy command runs only once its process group is recorded (in the
// journal, for --resume): the tool killed in between leaves no command
// running that the journal does not name.
func TestCommandWaitsUntilItsGroupIsRecorded(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	var ranEarly bool
	err := RunCommand(context.Background(), "touch "+marker+"; echo $# args", config.Server{Addr: "127.0.0.1:1", Host: "h", Port: 1}, 30*time.Second, report.NewProgress(&bytes.Buffer{}), func(pgid int) {
		time.Sleep(300 * time.Millisecond) // a slow journal write
		_, statErr := os.Stat(marker)
		ranEarly = statErr == nil
	})
	if err != nil || ranEarly {
		t.Fatalf("err %v, ran before its group was recorded: %v", err, ranEarly)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the command never ran")
	}
}
