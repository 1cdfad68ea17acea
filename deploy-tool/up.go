package main

import (
	"io"
)

// UpOptions are the flags of `deploy-tool up`.
type UpOptions struct {
	ConfigFlag
	SkipHealth bool `long:"skip-health" description:"bring it up without running the health check first"`
}

// cmdUp health-checks one server and puts it back in every balancer: the
// talk's `app_ctl up`.
func cmdUp(args []string, stdout, stderr io.Writer) int {
	var opts UpOptions
	srv, log, cfg, cl, lock, code := manualSetup("up", &opts, &opts.ConfigFlag, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer lock.Release()
	if _, problems := cl.Preflight([]ServerConfig{srv}); len(problems) > 0 {
		return refuse(log, problems)
	}
	if !opts.SkipHealth {
		if err := HealthCheck(cfg.Health, srv, nil); err != nil {
			log.Printf("not brought up: %v (--skip-health to bring it up anyway)", err)
			return exitFailed
		}
	}
	if err := cl.MarkUp([]ServerConfig{srv}, cfg.UpTimeout.D()); err != nil {
		log.Printf("ERROR: %v", err)
		return exitFailed
	}
	log.Printf("%s is up and serving on every balancer (read back)", srv.Addr)
	return exitOK
}
