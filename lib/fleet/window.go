package fleet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is a half-open interval [Start, Start+Len) of Unix seconds, aligned
// on Len. A host run's lines belong to the window holding the run's time.
type Window struct {
	Start int64 `json:"start"`
	Len   int64 `json:"len"`
}

// WindowOf is the window of length d holding t.
func WindowOf(t time.Time, d time.Duration) Window {
	l := int64(d / time.Second)
	s := t.Unix()
	return Window{Start: s - ((s%l)+l)%l, Len: l}
}

// End is the first second after the window.
func (w Window) End() int64 { return w.Start + w.Len }

// String is the window's member name in the service's index: "START+LEN".
func (w Window) String() string { return fmt.Sprintf("%d+%d", w.Start, w.Len) }

// ParseWindow reads what String wrote.
func ParseWindow(s string) (Window, error) {
	a, b, ok := strings.Cut(s, "+")
	start, err1 := strconv.ParseInt(a, 10, 64)
	l, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || l <= 0 {
		return Window{}, fmt.Errorf("window %q: want START+LEN in seconds", s)
	}
	return Window{Start: start, Len: l}, nil
}

// CheckService says whether name can be a Mackerel service name (and so a
// part of the keys).
func CheckService(name string) error {
	if name == "" {
		return fmt.Errorf("service name is empty")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("service name %q: only [-a-zA-Z0-9_] may be used", name)
		}
	}
	return nil
}
