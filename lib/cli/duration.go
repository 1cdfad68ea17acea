package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is the suite's one duration type, for flags and for TOML files
// alike, with one set of rules: a bare number is seconds ("10", "1.5"), or a
// Go duration with its unit ("10s", "1500ms", "2m", "1h30m"). Negative
// values, NaN, infinities and values too large to represent are refused with
// a message that names the value. Zero is accepted here; a flag that needs
// more (a timeout) says so in its Validate.
type Duration time.Duration

// maxDuration keeps every accepted value representable, and far above any
// sensible wait: a year.
const maxDuration = 365 * 24 * time.Hour

// ParseDuration applies Duration's rules to s.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	notDuration := fmt.Errorf("%q is not a duration: want seconds (10) or a number with a unit (10s, 1500ms, 2m)", s)
	if n, err := strconv.ParseFloat(t, 64); err == nil || isRangeErr(err) {
		if err == nil && (math.IsNaN(n) || math.IsInf(n, 0)) {
			return 0, notDuration // "NaN", "inf": no number of seconds
		}
		return checkSeconds(s, n)
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		if wellFormed().MatchString(t) { // only too large for time.Duration
			return 0, fmt.Errorf("%q is too long: at most %s", s, fmtDuration(maxDuration))
		}
		return 0, notDuration
	}
	return checkRange(s, v)
}

// wellFormed is the shape time.ParseDuration accepts; a value of that shape
// it refuses overflowed. Compiled at the first refusal, not at start-up.
var wellFormed = lazyRegexp(`^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*$`)

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func checkSeconds(s string, n float64) (time.Duration, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%q is negative: want 0 or more", s)
	case n > maxDuration.Seconds():
		return 0, fmt.Errorf("%q is too long: at most %s", s, fmtDuration(maxDuration))
	}
	return time.Duration(math.Round(n * float64(time.Second))), nil
}

func checkRange(s string, v time.Duration) (time.Duration, error) {
	if v < 0 {
		return 0, fmt.Errorf("%q is negative: want 0 or more", s)
	}
	if v > maxDuration {
		return 0, fmt.Errorf("%q is too long: at most %s", s, fmtDuration(maxDuration))
	}
	return v, nil
}

// fmtDuration writes d without Go's trailing "0m0s" ("8760h", "1m30s").
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes the value as a Go duration ("10s", "1m30s").
func (d Duration) String() string { return fmtDuration(time.Duration(d)) }

// UnmarshalFlag implements go-flags' Unmarshaler.
func (d *Duration) UnmarshalFlag(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalFlag implements go-flags' Marshaler.
func (d Duration) MarshalFlag() (string, error) { return d.String(), nil }

// UnmarshalText implements encoding.TextUnmarshaler: a quoted TOML or JSON
// string follows the same rules as a flag.
func (d *Duration) UnmarshalText(b []byte) error { return d.UnmarshalFlag(string(b)) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalTOML implements BurntSushi/toml's Unmarshaler, so that a bare
// TOML number is seconds too (timeout = 5), as on the command line.
func (d *Duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		return d.UnmarshalFlag(x)
	case int64:
		return d.UnmarshalFlag(strconv.FormatInt(x, 10))
	case float64:
		return d.UnmarshalFlag(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return fmt.Errorf("%v is not a duration: want seconds (10) or a string with a unit (\"10s\", \"1500ms\")", v)
}
