package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// KindErrors is the kind of check-error-log's contributions: their windows
// live under keys of their own (ErrorKeyPrefix), apart from the access
// log's, so that neither aggregator freezes, posts or forgets the other's.
const KindErrors = "errors"

// MaxErrorText is the most bytes of a group's message or example kept in a
// contribution: a 5 MB log line must not become a 5 MB Redis field.
const MaxErrorText = 1024

// ErrorGroup is one group of a check-error-log run: the normalized message
// that names the group, the first line seen of it, and how many errors it
// holds. The host is the contribution's.
type ErrorGroup struct {
	Message string `json:"message"`
	Example string `json:"example"`
	Count   uint64 `json:"count"`
}

// ErrorTotal is one group over a whole window of the service: its count, its
// first example (the one that reached Redis first) and its count per host.
type ErrorTotal struct {
	Message string            `json:"message"`
	Example string            `json:"example"`
	Count   uint64            `json:"count"`
	Hosts   map[string]uint64 `json:"hosts"`
}

// ErrorID names a group in Redis: a hash of its message, so that no message
// byte ever has to be escaped in a field name.
func ErrorID(message string) string {
	h := sha256.Sum256([]byte(message))
	return hex.EncodeToString(h[:8])
}

// CutText shortens s to at most max bytes, on a rune boundary, marking the
// cut with "…".
func CutText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
