package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// A run that reads nothing leaves its logs' state files as they are (they
// are written with two fsyncs) and records only its time, which the next
// run's rates need, in a small clock file beside the state:
// "accesslog-clock 1 BOOT_ID UPTIME_NS WALL_NS\n", written in place without
// fsync. It holds no offset, so losing or tearing it in a crash costs at
// most one run's rates (left out, with a warning); no line is ever lost or
// counted twice.

const clockFileMagic = "accesslog-clock 1"

// clockFileSuffix names a state's clock file.
const clockFileSuffix = ".clock"

// runMark is when a run was, on the boot clock and the wall clock.
type runMark struct {
	clock runClock
	wall  time.Time
}

// after says whether m is a later run than o: by the boot clock when both
// are on the same boot, else by the wall clock.
func (m runMark) after(o runMark) bool {
	if m.clock.Boot != "" && m.clock.Boot == o.clock.Boot {
		return m.clock.Uptime > o.clock.Uptime
	}
	return m.wall.After(o.wall)
}

func encodeClockFile(m runMark) []byte {
	boot := m.clock.Boot
	if boot == "" {
		boot = "-"
	}
	b := make([]byte, 0, 96)
	b = append(b, clockFileMagic...)
	b = append(b, ' ')
	b = append(b, boot...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.clock.Uptime, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.wall.UnixNano(), 10)
	return append(b, '\n')
}

var errTornClock = errors.New("not a whole clock record (torn by a crash?)")

func decodeClockFile(b []byte) (runMark, error) {
	rest, ok := bytes.CutPrefix(b, []byte(clockFileMagic+" "))
	if !ok || len(rest) == 0 || rest[len(rest)-1] != '\n' {
		return runMark{}, errTornClock
	}
	f := bytes.Fields(rest)
	if len(f) != 3 || len(f[0]) > 64 {
		return runMark{}, errTornClock
	}
	for _, c := range f[0] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return runMark{}, fmt.Errorf("boot id %q: not a boot id", f[0])
		}
	}
	up, err1 := strconv.ParseInt(string(f[1]), 10, 64)
	wall, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	if err1 != nil || err2 != nil || up < 0 {
		return runMark{}, errTornClock
	}
	m := runMark{clock: runClock{Uptime: up}, wall: time.Unix(0, wall)}
	if string(f[0]) != "-" {
		m.clock.Boot = string(f[0])
	}
	return m, nil
}
