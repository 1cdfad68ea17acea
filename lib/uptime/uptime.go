// Package uptime judges a server's uptime against restart thresholds, for the
// checks that catch a restarted server (check-mysql-uptime,
// check-memcached-uptime): the same flags, the same judgement and the same
// message in every one of them.
package uptime

import (
	"fmt"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// Thresholds are the --warning and --critical flags: a status when the uptime
// in seconds is below the threshold; 0 disables it.
type Thresholds struct {
	Warning  int64 `long:"warning" short:"w" default:"300" value-name:"SECONDS" description:"WARNING when the uptime is below SECONDS (0 disables)"`
	Critical int64 `long:"critical" short:"c" default:"0" value-name:"SECONDS" description:"CRITICAL when the uptime is below SECONDS (0 disables)"`
}

// Validate rejects negative thresholds.
func (t Thresholds) Validate() error {
	if t.Warning < 0 {
		return fmt.Errorf("--warning %d: want 0 or more seconds (0 disables)", t.Warning)
	}
	if t.Critical < 0 {
		return fmt.Errorf("--critical %d: want 0 or more seconds (0 disables)", t.Critical)
	}
	return nil
}

// Judge returns the status for an uptime of seconds and a message that says
// what was measured and, when not OK, which threshold it is below:
// "up 4m12s (252 s) < warning 300 s".
func (t Thresholds) Judge(seconds int64) check.Result {
	st, crossed := check.BelowThreshold(float64(seconds), float64(t.Warning), float64(t.Critical))
	msg := fmt.Sprintf("up %s (%d s)", Human(seconds), seconds)
	switch st {
	case check.Critical:
		msg += fmt.Sprintf(" < critical %d s", int64(crossed))
	case check.Warning:
		msg += fmt.Sprintf(" < warning %d s", int64(crossed))
	}
	return check.Result{Status: st, Message: msg}
}

// Human writes seconds the way an operator reads them, at most two units:
// "42s", "4m12s", "3h2m", "12d3h".
func Human(seconds int64) string {
	if seconds < 0 {
		return "-" + Human(-seconds)
	}
	units := []struct {
		name string
		size int64
	}{{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}}
	for i, u := range units {
		if seconds < u.size && u.size > 1 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d%s", seconds/u.size, u.name)
		if i+1 < len(units) {
			next := units[i+1]
			if rest := seconds % u.size / next.size; rest > 0 {
				fmt.Fprintf(&b, "%d%s", rest, next.name)
			}
		}
		return b.String()
	}
	return "0s"
}
