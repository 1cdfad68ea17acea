package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// DownOptions are the flags of `deploy-tool down`.
type DownOptions struct {
	ConfigFlag
	Force bool `long:"force" description:"take it down even beyond max_unavailable or min_up"`
}

// cmdDown takes one server out of every balancer and drains it: the talk's
// `app_ctl down`, with the rollout's checks.
func cmdDown(args []string, stdout, stderr io.Writer) int {
	var opts DownOptions
	srv, log, cfg, cl, lock, code := manualSetup("down", &opts, &opts.ConfigFlag, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer lock.Release()
	snap, problems := cl.Preflight([]ServerConfig{srv})
	if len(problems) > 0 {
		return refuse(log, problems)
	}
	if len(snap.UpSomewhere(srv.Addr)) == 0 {
		log.Printf("%s is already down on every balancer", srv.Addr)
		return exitOK
	}
	if err := checkBudget(cfg, cl, snap, []ServerConfig{srv}); err != nil && !opts.Force {
		return refuse(log, []string{err.Error() + " (--force to do it anyway)"})
	}
	stop, _, release := interrupts(log)
	defer release()
	changed, err := cl.MarkDown([]ServerConfig{srv})
	if err != nil {
		log.Printf("ERROR: %v", err)
		return exitFailed
	}
	log.Printf("%s: down on every balancer (read back); draining", srv.Addr)
	left, err := cl.Drain([]ServerConfig{srv}, cfg.DrainWait.D(), cfg.DrainTimeout.D(), stop)
	if err != nil {
		why := "interrupted during drain"
		code := exitInterrupted
		if !errors.Is(err, errInterrupted) {
			why, code = "drain: "+err.Error(), exitFailed
		}
		log.Printf("%s: putting it back up", why)
		if uerr := cl.Undo(changed); uerr != nil {
			log.Printf("ERROR: %v; %s may be left down", uerr, srv.Addr)
			return exitFailed
		}
		return code
	}
	if left > 0 {
		log.Printf("WARNING: drain_timeout %v reached with %d requests in flight", cfg.DrainTimeout.D(), left)
	}
	if err := cl.Park([]ServerConfig{srv}); err != nil {
		log.Printf("ERROR: %v", err)
		return exitFailed
	}
	log.Printf("%s is down and drained on every balancer; `deploy-tool up --config %s %s` brings it back", srv.Addr, cfg.Path(), srv.Addr)
	return exitOK
}

// manualSetup is what down and up share: flags, one SERVER, config,
// balancers, and the deploy host's lock.
func manualSetup(name string, opts any, cf *ConfigFlag, args []string, stdout, stderr io.Writer) (ServerConfig, *Progress, *Config, *Cluster, *Lock, int) {
	rest, code := parseFlags(name+" [flags] SERVER", opts, args, stdout, stderr)
	if code >= 0 {
		return ServerConfig{}, nil, nil, nil, nil, code
	}
	if len(rest) != 1 {
		fmt.Fprintf(stderr, "deploy-tool %s: want one SERVER (its address, IP:port, or its host in the config)\n", name)
		return ServerConfig{}, nil, nil, nil, nil, exitUsage
	}
	log := NewProgress(stdout)
	cfg, cl, code := setup(cf.Config, log, stderr)
	if code >= 0 {
		return ServerConfig{}, nil, nil, nil, nil, code
	}
	srv, err := lookupServer(cfg, rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "deploy-tool %s: %v\n", name, err)
		return ServerConfig{}, nil, nil, nil, nil, exitUsage
	}
	lock, err := AcquireLock(cfg.LockPath(), Holder(name+" "+srv.Addr))
	if err != nil {
		log.Printf("refused: %v", err)
		return ServerConfig{}, nil, nil, nil, nil, exitRefused
	}
	return srv, log, cfg, cl, lock, -1
}

// lookupServer finds SERVER in the config, or takes it as IP:port.
func lookupServer(cfg *Config, name string) (ServerConfig, error) {
	if s, ok := cfg.Server(name); ok {
		return s, nil
	}
	h, p, err := net.SplitHostPort(name)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || !safeHost.MatchString(h) {
		return ServerConfig{}, fmt.Errorf("server %q is not in the config and is not IP:port", name)
	}
	return ServerConfig{Addr: name, Host: h, Port: port}, nil
}

func refuse(log *Progress, problems []string) int {
	log.Printf("refused, nothing was touched: %s", strings.Join(problems, "; "))
	return exitRefused
}
