package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/plan"
)

// WrapperOptions are the flags of `deploy-tool wrapper`.
type WrapperOptions struct {
	ConfigFlag
	Self    string   `long:"self" required:"true" value-name:"ADDR" description:"this host's address as the balancers know it (IP:port), or its host in the config"`
	Command []string `no-flag:"true"` // the command and its arguments, after --
}

// Wrapper brackets a command (rsync, run by rsync's --rsync-path on the
// receiving host) with down and up: take this host down and drain it, run
// the command with its arguments untouched and stdin/stdout passed through
// (the rsync protocol runs over them, so every message here goes to
// stderr), settle, health-check, bring it up, and exit with the command's
// exit code. A dry run (rsync -n) is not bracketed.
func (app *App) Wrapper(ctx context.Context, opts WrapperOptions) error {
	argv := opts.Command
	if isRsyncDryRun(argv) {
		return commandExited(argv[0], runWrapped(argv, 0, app.stdin, app.stdout, app.stderr))
	}
	m, err := app.manualSetup("wrapper", opts.Config, opts.Self)
	if err != nil {
		return err
	}
	defer m.lock.Release()
	err = m.wrap(ctx, app.kill, argv, app.stdin, app.stdout, app.stderr)
	m.annotateEnd("wrapper", err)
	return err
}

// commandExited is the error of a wrapped command's exit code.
func commandExited(name string, rc int) error {
	if rc == 0 {
		return nil
	}
	return reported(commandExit{name: name, code: rc})
}

// wrap is down, the command, settle, health and up for this host, with the
// same take-out step as rollout and down. A first signal lets the command
// finish and the host come back up, then stops with 130; a second also
// stops the settle and the health check and leaves the host down.
func (m *manual) wrap(ctx, kill context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	one := []config.Server{m.srv}
	snap, problems := m.cl.Preflight(one)
	if len(problems) == 0 {
		if err := plan.CheckBudget(m.cfg, snap, m.cl.Upstreams, one, nil); err != nil && len(snap.UpSomewhere(m.srv.Addr)) > 0 {
			problems = append(problems, err.Error())
		}
		if err := outage.CheckDrainCovers(m.cfg, m.cl); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return refusedf("nothing was touched, %s was not run: %s", argv[0], strings.Join(problems, "; "))
	}
	m.annotateStart(ctx, "wrapper")
	o, err := m.cl.TakeOut(ctx, one, outage.TimingsOf(m.cfg))
	if err != nil {
		return m.takeOutFailed(err, "; "+argv[0]+" was not run")
	}
	t0 := time.Now()
	rc := runWrapped(argv, m.cfg.Deploy.Timeout.D(), stdin, stdout, stderr)
	m.log.Printf("%s exited %d after %.2fs", argv[0], rc, time.Since(t0).Seconds())
	if rc != 0 {
		m.log.Printf("%s is LEFT DOWN because %s failed; `deploy-tool up --config %s %s` brings it back", m.srv.Addr, argv[0], m.cfg.Path(), m.srv.Addr)
		return reported(commandExit{name: argv[0], code: rc})
	}
	select {
	case <-kill.Done():
		m.log.Printf("%s is LEFT DOWN: stopped by a second signal before the health check; `deploy-tool up --config %s %s` brings it back", m.srv.Addr, m.cfg.Path(), m.srv.Addr)
		return reported(errors.New("stopped by a second signal before the health check"))
	case <-time.After(m.cfg.Settle.D()):
	}
	if err := outage.HealthCheck(kill, m.cfg.Health, m.srv); err != nil {
		m.log.Printf("%s is LEFT DOWN: %v; `deploy-tool up --config %s %s` brings it back", m.srv.Addr, err, m.cfg.Path(), m.srv.Addr)
		return reported(err)
	}
	if err := o.BringUp(one); err != nil {
		m.log.Printf("ERROR: %v", err)
		m.whatIsLeft(one)
		return reported(err)
	}
	m.log.Printf("%s: up on every balancer (read back)", m.srv.Addr)
	m.cl.SettleFailures(ctx)
	m.cl.ReportFailuresLeft(m.cfg.Path())
	if ctx.Err() != nil {
		return reported(fmt.Errorf("%w: %s finished and %s is back up", outage.ErrInterrupted, argv[0], m.srv.Addr))
	}
	return nil
}

// runWrapped runs the command with its arguments as given, killed after
// timeout (0: no bound), and returns its exit code (127 when it cannot be
// started, 137 when killed).
func runWrapped(argv []string, timeout time.Duration, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if f, ok := stdin.(*os.File); ok {
		cmd.Stdin = f
	}
	// rsync's stdio are the files themselves; only a writer that is not a
	// file needs copying, and a background child must not hold that up.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		fmt.Fprintf(stderr, "deploy-tool wrapper: note: %s exited 0 but a background process it started still holds its output open; stopped reading it\n", argv[0])
		err = nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "deploy-tool wrapper: %s killed after deploy.timeout %v\n", argv[0], timeout)
		}
		if ee.ExitCode() >= 0 {
			return ee.ExitCode()
		}
		return 128 + 9
	}
	fmt.Fprintf(stderr, "deploy-tool wrapper: %v\n", err)
	return 127
}

// isRsyncDryRun tells whether rsync arguments ask for a dry run: --dry-run,
// or an n among single-letter options. On the receiving side rsync passes
// its options packed as in "--server -vnlogDtpre.iLsfxC": only the part
// before the "." holds options; the rest are protocol capabilities.
func isRsyncDryRun(argv []string) bool {
	for _, a := range argv[1:] {
		if a == "--" {
			return false
		}
		if a == "--dry-run" {
			return true
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			opts, _, _ := strings.Cut(a[1:], ".")
			if strings.Contains(opts, "n") {
				return true
			}
		}
	}
	return false
}
