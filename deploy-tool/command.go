package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// RunCommand runs the deploy command for one server through /bin/sh -c in a
// process group of its own, so that a Ctrl-C at the terminal does not reach
// it: an interrupted rollout lets a started command finish. The group is
// killed at the timeout or when kill ends (a second signal). Its output
// is printed line by line, prefixed with the host.
// started, if not nil, is told the command's process group once it runs.
func RunCommand(kill context.Context, command string, s config.Server, timeout time.Duration, log *report.Progress, started func(pgid int)) error {
	ctx, cancel := context.WithTimeout(kill, timeout)
	defer cancel()
	line := config.ExpandCommand(command, s)
	// The shell waits for a go-ahead on fd 3 that is written only once
	// started has recorded the process group (in the journal): a tool
	// killed in between closes the pipe, and the command never runs, so a
	// command that runs is always one that --resume knows about.
	goAhead, gave, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("deploy command for %s: %w", s.Addr, err)
	}
	defer gave.Close()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", shellGate, "deploy-tool", line)
	cmd.Env = append(os.Environ(), config.Env(s)...)
	cmd.ExtraFiles = []*os.File{goAhead}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out := log.Prefixed(s.Host)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Start()
	goAhead.Close()
	if err == nil {
		if started != nil {
			started(cmd.Process.Pid)
		}
		gave.Write([]byte("go\n"))
		gave.Close()
		err = cmd.Wait()
	}
	out.Flush()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited 0 (a failure is an ExitError), but something
		// it started in the background still holds its output open: the
		// exit status is the command's verdict.
		log.Printf("%s: note: the deploy command exited 0 but a background process it started still holds its output open; its further output is not shown", s.Host)
		err = nil
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("deploy command for %s timed out after %v: %s", s.Addr, timeout, line)
	case ctx.Err() != nil:
		return fmt.Errorf("deploy command for %s killed by a second signal: %s", s.Addr, line)
	}
	return fmt.Errorf("deploy command for %s failed (%v): %s", s.Addr, err, line)
}

// shellGate runs the command given as $1 (as `sh -c` would, with no
// positional parameters) once a line arrives on fd 3; it exits 125 without
// running it when fd 3 is closed first.
const shellGate = `read -r _ <&3 || exit 125; exec 3<&-; __deploy_tool_command=$1; set --; eval "$__deploy_tool_command"`
