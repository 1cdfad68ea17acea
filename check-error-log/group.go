package main

import (
	"sort"
)

// otherKey collects the occurrences of messages beyond maxGroups.
const otherKey = "(other messages, beyond the groups kept in memory)"

// group is one message and how often it was seen in a run.
type group struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
	// Example is the first occurrence in full, each line with the writer's
	// timestamp prefix stripped: its first line, then its trace.
	Example []string `json:"example,omitempty"`
	// More is how many trace lines of Example were left out.
	More  int `json:"more,omitempty"`
	order int
}

// grouper counts entries by their normalised message, in bounded memory.
type grouper struct {
	norm      *normalizer
	maxGroups int
	groups    map[string]*group
	total     int
}

func newGrouper(n *normalizer, maxGroups int) *grouper {
	return &grouper{norm: n, maxGroups: maxGroups, groups: map[string]*group{}}
}

func (g *grouper) add(e *entry) {
	g.total++
	name := e.head
	if e.key != "" {
		name = e.key
	}
	key := g.norm.key(name)
	gr := g.groups[key]
	if gr == nil {
		if len(g.groups) >= g.maxGroups {
			key = otherKey
			gr = g.groups[key]
		}
		if gr == nil {
			gr = &group{Key: key, order: len(g.groups)}
			if key != otherKey {
				gr.Example = make([]string, 0, 1+len(e.trace))
				gr.Example = append(gr.Example, stripPrefix(e.head))
				for _, l := range e.trace {
					gr.Example = append(gr.Example, stripPrefix(l)) // Xdebug prefixes its trace lines
				}
				gr.More = e.more
			}
			g.groups[key] = gr
		}
	}
	gr.Count++
}

// sorted returns the groups, most frequent first, then in order of first
// appearance; the overflow group comes last.
func (g *grouper) sorted() []*group {
	out := make([]*group, 0, len(g.groups))
	for _, gr := range g.groups {
		out = append(out, gr)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Key == otherKey) != (b.Key == otherKey) {
			return b.Key == otherKey
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.order < b.order
	})
	return out
}
