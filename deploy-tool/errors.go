package main

import (
	"errors"
	"fmt"
)

// The errors a subcommand ends with. main.go's exitCode chooses the exit
// code from their type; nothing else does.

// refusal is a run refused before it touched anything (exit 3). reported
// means the reasons were printed already.
type refusal struct {
	msg      string
	reported bool
}

func (r refusal) Error() string { return r.msg }

func refusedf(format string, args ...any) error {
	return refusal{msg: fmt.Sprintf(format, args...)}
}

// usageError is bad flags, arguments or config (exit 2). reported means it
// was printed already (one line on stderr).
type usageError struct {
	msg      string
	reported bool
}

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// commandExit is a wrapped command's own non-zero exit code (wrapper passes
// rsync's on).
type commandExit struct {
	name string
	code int
}

func (c commandExit) Error() string { return fmt.Sprintf("%s exited %d", c.name, c.code) }

// checkStatus is the Mackerel status `check` printed (0–3).
type checkStatus struct{ code int }

func (c checkStatus) Error() string { return fmt.Sprintf("check status %d", c.code) }

// errHelped is a run that printed what was asked (--help) and is done.
var errHelped = errors.New("help shown")

// reportedError is an error that the run has shown already; it only
// carries the exit code.
type reportedError struct{ err error }

func (r reportedError) Error() string { return r.err.Error() }
func (r reportedError) Unwrap() error { return r.err }

func reported(err error) error {
	if err == nil {
		return nil
	}
	return reportedError{err}
}
