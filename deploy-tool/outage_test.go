package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// threeBalancers is the rig with a third balancer (nginx-like) whose answer
// to the mark-down of the first server is lost after it applied it.
func threeBalancers(t *testing.T, n int) *rig {
	r := newRig(t, n)
	third := newFake("nginx3", false, r.addrs...)
	third.loseDrain[r.addrs[0]] = true
	r.fakes = append(r.fakes, third)
	return r
}

func TestLostAnswerIsPutBackAndReadBack(t *testing.T) {
	r := threeBalancers(t, 3)
	code, out := r.rollout()
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	// The lost answer had applied: the server must be put back there too.
	r.wantStates(nil)
	if calls := r.fakes[2].callLog(); strings.Join(calls, ",") != "drain "+r.addrs[0]+",up "+r.addrs[0] {
		t.Errorf("nginx3 calls %v, want the lost mark-down put back", calls)
	}
	if !strings.Contains(out, "no server is left down (read back)") || strings.Contains(out, "--resume") {
		t.Error("the final lines do not say truly that nothing is left down and nothing is to resume")
	}
	if len(r.deployed()) != 0 {
		t.Error("a command ran")
	}
}

// A lost answer and a put-back that fails: the report names the server as
// left down on that balancer (read back), and --resume takes it again.
func TestLostAnswerAndFailedPutBackIsReportedAndResumable(t *testing.T) {
	r := threeBalancers(t, 3)
	r.fakes[2].failUp[r.addrs[0]] = true
	code, out := r.rollout()
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	if st := r.fakes[2].state(r.addrs[0]); st == balancer.Up {
		t.Fatal("the fake did not keep the server down")
	}
	if !strings.Contains(out, "left down: "+r.addrs[0]+" (nginx3/backend (down))") {
		t.Error("the final lines do not name the server left down and where")
	}
	if j := r.journal(); j == nil || j.Progress[r.addrs[0]] != journal.StepDown {
		t.Fatalf("journal %+v, want server 1 down for --resume", j)
	}
	r.fakes[2].loseDrain[r.addrs[0]] = false
	r.fakes[2].failUp[r.addrs[0]] = false
	code, out = r.rollout("--resume")
	if code != exitOK {
		t.Fatalf("--resume: exit %d\n%s", code, out)
	}
	r.wantStates(nil)
	if got := r.deployed(); len(got) != 3 {
		t.Errorf("deployed %v, want all 3", got)
	}
}

// The balancer whose answer was lost stays unreachable: the final lines say
// it could not be read and keep the journal for --resume.
func TestLostAnswerThenUnreachableIsNotReportedAsUp(t *testing.T) {
	r := threeBalancers(t, 3)
	r.fakes[2].afterLost = func() { r.fakes[2].setUnreachable(true) }
	code, out := r.rollout()
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	if strings.Contains(out, "no server is left down") {
		t.Error("claims nothing is left down while a balancer cannot be read")
	}
	if !strings.Contains(out, "balancer nginx3: connection refused: could not be read at the end") {
		t.Error("the unreadable balancer is not named in the final lines")
	}
	if j := r.journal(); j == nil || j.Progress[r.addrs[0]] != journal.StepDown {
		t.Fatalf("journal %+v, want server 1 down for --resume", j)
	}
	r.fakes[2].setUnreachable(false)
	r.fakes[2].loseDrain[r.addrs[0]] = false
	if code, out := r.rollout("--resume"); code != exitOK {
		t.Fatalf("--resume: exit %d\n%s", code, out)
	}
	r.wantStates(nil)
}

func TestDownAndWrapperPutBackALostAnswerToo(t *testing.T) {
	r := threeBalancers(t, 3)
	path := r.write()
	var out bytes.Buffer
	code := run([]string{"down", "--config", path, r.addrs[0]}, strings.NewReader(""), &out, &out)
	t.Logf("down: exit %d\n%s", code, out.String())
	if code != exitFailed || !strings.Contains(out.String(), r.addrs[0]+" is in rotation on every balancer (read back)") {
		t.Fatalf("down: exit %d, want %d and a read-back", code, exitFailed)
	}
	r.wantStates(nil)

	code, _, stderr := r.wrapper("", "sh", "-c", "echo ran")
	if code != exitFailed || !strings.Contains(stderr, "sh was not run") {
		t.Fatalf("wrapper: exit %d, want %d", code, exitFailed)
	}
	r.wantStates(nil)
}

// rollout, down and wrapper stop alike on an interruption during the
// drain: the server is put back and the exit code is 130.
func TestInterruptDuringDrainIsTheSameForDownAndWrapper(t *testing.T) {
	r := newRig(t, 3)
	r.top = "drain_timeout = \"30s\""
	r.fakes[1].setActive(r.addrs[0], 3) // requests that never finish
	r.write()
	log := report.NewProgress(&bytes.Buffer{})
	app := &App{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: log}
	if err := app.setup(r.path); err != nil {
		t.Fatal(err)
	}
	cfg, cl := app.cfg, app.cl
	ctx, stop := context.WithCancel(context.Background())
	stop()
	o, err := cl.TakeOut(ctx, []config.Server{cfg.Servers[0]}, outage.TimingsOf(cfg))
	if exitCode(err) != exitInterrupted || !o.Took(r.addrs[0]) || o.PutBackFailed {
		t.Fatalf("TakeOut: %v (exit %d)", err, exitCode(err))
	}
	r.wantStates(nil)
}

// wrapper re-reads the balancers right before rsync, as rollout does before
// its command: a reload that put the host back in rotation is undone first.
func TestWrapperReReadsBeforeTheCommand(t *testing.T) {
	r := newRig(t, 3)
	reloaded := false
	r.fakes[0].hook = func(op, addr string) {
		if op == "down" && !reloaded {
			reloaded = true
			r.fakes[0].reload()
		}
	}
	code, _, stderr := r.wrapper("", "sh", "-c", "echo ran")
	if code != 0 || !strings.Contains(stderr, "is up again (balancer reloaded?)") {
		t.Fatalf("exit %d, want 0 with the reload noticed", code)
	}
	calls := r.fakes[0].callLog()
	a := r.addrs[0]
	if strings.Join(calls, ",") != strings.Join([]string{"drain " + a, "down " + a, "drain " + a, "down " + a, "up " + a}, ",") {
		t.Errorf("nginx1 calls %v: want the host taken down again before the command, up only after", calls)
	}
	r.wantStates(nil)
}
