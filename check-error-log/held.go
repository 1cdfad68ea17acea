package main

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"time"
)

// held is what the rate limit (or a full spool) kept from Slack, posted as a
// summary once posts are allowed again.
type held struct {
	Since  time.Time   `json:"since"`
	Errors int         `json:"errors"`
	Groups []heldGroup `json:"groups,omitempty"`
	// Unlisted is how many errors belong to messages beyond maxHeldGroups.
	Unlisted int `json:"unlisted,omitempty"`
	// UnlistedKeys are hashes of those messages, sorted, so that the
	// summary counts its groups without keeping their text.
	UnlistedKeys []uint64 `json:"unlisted_keys,omitempty"`
	// Uncounted is set when some unlisted messages could not be told apart
	// (a run's "other messages" group, or more than maxUnlistedKeys).
	Uncounted bool `json:"uncounted,omitempty"`
}

type heldGroup struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

func (h *held) add(groups []*group, total int, now time.Time) {
	if h.Since.IsZero() {
		h.Since = now
	}
	h.Errors += total
	for _, g := range groups {
		i := 0
		for i < len(h.Groups) && h.Groups[i].Key != g.Key {
			i++
		}
		switch {
		case i < len(h.Groups):
			h.Groups[i].Count += g.Count
		case len(h.Groups) < maxHeldGroups && g.Key != otherKey:
			h.Groups = append(h.Groups, heldGroup{g.Key, g.Count})
		default:
			h.Unlisted += g.Count
			h.noteUnlisted(g.Key)
		}
	}
}

// noteUnlisted remembers that the unlisted message key was seen.
func (h *held) noteUnlisted(key string) {
	if key == otherKey {
		h.Uncounted = true
		return
	}
	f := fnv.New64a()
	f.Write([]byte(key))
	sum := f.Sum64()
	i, found := slices.BinarySearch(h.UnlistedKeys, sum)
	switch {
	case found:
	case len(h.UnlistedKeys) >= maxUnlistedKeys:
		h.Uncounted = true
	default:
		h.UnlistedKeys = slices.Insert(h.UnlistedKeys, i, sum)
	}
}

// groups says how many messages were held back: "1000 groups", or "at
// least 4100 groups" when some could not be told apart.
func (h *held) groups() string {
	n := len(h.Groups) + len(h.UnlistedKeys)
	if h.Uncounted {
		return fmt.Sprintf("at least %s", plural(max(n, 1), "group", "groups"))
	}
	return plural(n, "group", "groups")
}

// composeSummary writes what was held back as one post of "count× message"
// lines, the most frequent first, as many as fit; the rest are counted.
func composeSummary(c *config, h *held, now time.Time) string {
	head := fmt.Sprintf("[%s] held back since %s by --max-posts-per-hour %d: %s in %s (%s, %s)",
		slackEscape(c.host), h.Since.UTC().Format("15:04 MST"), c.o.MaxPosts, plural(h.Errors, "error", "errors"),
		h.groups(), binaryName, now.UTC().Format("2006-01-02 15:04:05 MST"))
	groups := append([]heldGroup(nil), h.Groups...)
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].Count > groups[j].Count })
	var b strings.Builder
	b.WriteString(head)
	for i, g := range groups {
		line := fmt.Sprintf("\n*%d×* %s", g.Count, slackEscape(g.Key))
		if b.Len()+len(line) > maxPostBytes-160 { // room for the two closing lines
			rest := 0
			for _, r := range groups[i:] {
				rest += r.Count
			}
			fmt.Fprintf(&b, "\nand %s of %s not listed", plural(rest, "error", "errors"), plural(len(groups)-i, "other message", "other messages"))
			break
		}
		b.WriteString(line)
	}
	if h.Unlisted > 0 {
		fmt.Fprintf(&b, "\nand %s of other messages", plural(h.Unlisted, "error", "errors"))
	}
	return b.String()
}
