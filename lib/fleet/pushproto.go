package fleet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// PushCommand is the command of PushBinary that delivers a spool
// (mackerel-service-accesslog/internal/push).
const PushCommand = "push"

// PushRequest is one delivery, written as JSON on the command's stdin (so
// that no URL holding a password shows in ps).
type PushRequest struct {
	Spool        string        `json:"spool"`
	URL          string        `json:"url"`
	PasswordFile string        `json:"password_file,omitempty"` // else $FLEET_REDIS_PASSWORD, inherited
	CAFile       string        `json:"ca_file,omitempty"`
	Cluster      bool          `json:"cluster,omitempty"`
	Service      string        `json:"service"`
	Kind         string        `json:"kind,omitempty"` // "" (the access log) or KindErrors
	Timeout      time.Duration `json:"timeout"`        // for the whole delivery
	SpoolMax     int           `json:"spool_max"`      // keep at most this many undelivered contributions
	Now          int64         `json:"now"`            // the run's time (Unix ns): later contributions are left alone
	Verbose      bool          `json:"verbose,omitempty"`
}

// PushReport is what a delivery did and left: one line of JSON on the
// command's stdout.
type PushReport struct {
	Delivered       int    `json:"delivered"`
	Pending         int    `json:"pending"`
	PendingRequests uint64 `json:"pending_requests"`
	Dropped         int    `json:"dropped"`
}

// PushBinary is the executable that runs PushCommand. Its name starts with
// mackerel-plugin- so that `mkr plugin install` installs it beside the
// plugin (mkr installs only check-* and mackerel-plugin-* executables).
const PushBinary = "mackerel-plugin-accesslog-push"

// pushBinaries are the executables that run PushCommand, in the order they
// are looked for: PushBinary, then the aggregator (whose hidden push command
// earlier releases used, and which an existing set-up may have copied
// beside the plugin).
var pushBinaries = []string{PushBinary, "mackerel-service-accesslog"}

// FindPusher returns the executable that runs PushCommand: one of
// pushBinaries in the directory of the running executable (its symlinks
// resolved, or not), else on $PATH.
func FindPusher() (string, error) {
	for _, name := range pushBinaries {
		if exe, err := os.Executable(); err == nil {
			if real, err := filepath.EvalSymlinks(exe); err == nil {
				if p := filepath.Join(filepath.Dir(real), name); isExecutable(p) {
					return p, nil
				}
			}
			if p := filepath.Join(filepath.Dir(exe), name); isExecutable(p) {
				return p, nil
			}
		}
	}
	for _, name := range pushBinaries {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found beside %s nor on $PATH: install it there (mkr plugin install does, from the release archive; it delivers the spool to Redis)", PushBinary, selfName())
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func selfName() string {
	if exe, err := os.Executable(); err == nil {
		return "the plugin (" + filepath.Dir(exe) + ")"
	}
	return "the plugin"
}

// CollectCommand is the command of PushBinary that hands check-error-log's
// closed windows (KindErrors) over to check-error-log --fleet-post, which
// links no Redis client either.
const CollectCommand = "collect-errors"

// CollectRequest is one hand-over, as JSON on the command's stdin.
type CollectRequest struct {
	URL          string        `json:"url"`
	PasswordFile string        `json:"password_file,omitempty"`
	CAFile       string        `json:"ca_file,omitempty"`
	Cluster      bool          `json:"cluster,omitempty"`
	Service      string        `json:"service"`
	Timeout      time.Duration `json:"timeout"`
	Grace        time.Duration `json:"grace"` // a window is closed this long after its end, by Redis's clock
	MaxWindows   int64         `json:"max_windows"`
	// Posted are windows the caller has recorded as posted (in its state
	// file) in an earlier run: they are marked posted and dropped first.
	Posted []Window `json:"posted,omitempty"`
}

// CollectReport is the closed windows, frozen, oldest first: one line of
// JSON on the command's stdout.
type CollectReport struct {
	Gen     int64             `json:"gen"` // when the service's data began in this Redis (Unix s, Redis's clock)
	Now     int64             `json:"now"` // Redis's clock
	Marked  int               `json:"marked"`
	Windows []CollectedWindow `json:"windows"`
}

// CollectedWindow is one closed window of error groups.
type CollectedWindow struct {
	Window Window `json:"window"`
	// Incomplete: the window began before the service's data began in this
	// Redis (restarted empty): contributions may be missing.
	Incomplete bool             `json:"incomplete,omitempty"`
	Hosts      map[string]int64 `json:"hosts"`
	Errors     []ErrorTotal     `json:"errors"`
}
