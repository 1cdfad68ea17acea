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
)

// WrapperOptions are the flags of `deploy-tool wrapper`.
type WrapperOptions struct {
	ConfigFlag
	Self string `long:"self" required:"true" value-name:"ADDR" description:"this host's address as the balancers know it (IP:port), or its host in the config"`
}

// cmdWrapper brackets a command (rsync, run by rsync's --rsync-path on the
// receiving host) with down and up: take this host down and drain it, run
// the command with its arguments untouched and stdin/stdout passed through
// (the rsync protocol runs over them, so every message here goes to
// stderr), settle, health-check, bring it up, and exit with the command's
// exit code. A dry run (rsync -n) is not bracketed.
func cmdWrapper(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var opts WrapperOptions
	rest, code := parseFlags("wrapper [flags] -- rsync ARGS...", &opts, args, stderr, stderr)
	if code >= 0 {
		return code
	}
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "deploy-tool wrapper: want the command after --, e.g. -- rsync ARGS...")
		return exitUsage
	}
	if isRsyncDryRun(rest) {
		return runWrapped(rest, 0, stdin, stdout, stderr)
	}
	log := NewProgress(stderr)
	cfg, cl, code := setup(opts.Config, log, stderr)
	if code >= 0 {
		return code
	}
	srv, err := lookupServer(cfg, opts.Self)
	if err != nil {
		fmt.Fprintf(stderr, "deploy-tool wrapper: --self: %v\n", err)
		return exitUsage
	}
	lock, err := AcquireLock(cfg.LockPath(), Holder("wrapper --self "+srv.Addr))
	if err != nil {
		log.Printf("refused: %v", err)
		return exitRefused
	}
	defer lock.Release()
	one := []ServerConfig{srv}
	snap, problems := cl.Preflight(one)
	if len(problems) == 0 {
		if err := checkBudget(cfg, cl, snap, one); err != nil && len(snap.UpSomewhere(srv.Addr)) > 0 {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return refuse(log, problems)
	}
	stop, _, release := interrupts(log)
	defer release()
	changed, err := cl.MarkDown(one)
	if err != nil {
		log.Printf("ERROR: %v; %s was not run", err, rest[0])
		return exitFailed
	}
	log.Printf("%s: down on every balancer (read back)", srv.Addr)
	if left, err := cl.Drain(one, cfg.DrainWait.D(), cfg.DrainTimeout.D(), stop); err != nil {
		if !errors.Is(err, errInterrupted) {
			log.Printf("ERROR: drain: %v", err)
		}
		if uerr := cl.Undo(changed); uerr != nil {
			log.Printf("ERROR: %v; %s may be left down", uerr, srv.Addr)
		}
		return exitFailed
	} else if left > 0 {
		log.Printf("WARNING: drain_timeout %v reached with %d requests in flight", cfg.DrainTimeout.D(), left)
	}
	if err := cl.Park(one); err != nil {
		log.Printf("ERROR: %v; %s was not run; %s is left down", err, rest[0], srv.Addr)
		return exitFailed
	}
	t0 := time.Now()
	rc := runWrapped(rest, cfg.Deploy.Timeout.D(), stdin, stdout, stderr)
	log.Printf("%s exited %d after %.2fs", rest[0], rc, time.Since(t0).Seconds())
	if rc != 0 {
		log.Printf("%s is LEFT DOWN because %s failed; `deploy-tool up --config %s %s` brings it back", srv.Addr, rest[0], cfg.Path(), srv.Addr)
		return rc
	}
	time.Sleep(cfg.Settle.D())
	if err := HealthCheck(cfg.Health, srv, nil); err != nil {
		log.Printf("%s is LEFT DOWN: %v", srv.Addr, err)
		return exitFailed
	}
	if err := cl.MarkUp(one, cfg.UpTimeout.D()); err != nil {
		log.Printf("ERROR: %v", err)
		return exitFailed
	}
	log.Printf("%s: up on every balancer (read back)", srv.Addr)
	return rc
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
	err := cmd.Run()
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
