// Package fleet is the data of mackerel-plugin-accesslog's per-run figures
// merged from many hosts into one-minute windows of a service, exactly:
// counts by status class and code, bytes, and the exact request-time and
// upstream-time histograms, overall and per group. A host's run is a
// Contribution, written first to a spool on disk (Spool); the aggregator's
// store (mackerel-service-accesslog/internal/redisstore) adds it to its window in Redis, and the aggregator turns a frozen window
// into the same metric names the host plugin prints (Frozen.Values). This
// package links no Redis client: the plugin's per-minute run stays small.
package fleet

import "slices"

// Classes are the status classes counted, in order (index i+1 of Counts.Class).
var Classes = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// TrackedCodes are the status codes counted one by one, besides their class;
// the same as mackerel-plugin-accesslog's.
var TrackedCodes = []int{499, 500, 502, 503, 504}

// Percentiles reported for request and upstream time, as the host plugin does.
var Percentiles = []int{50, 90, 95, 98, 99}

// Counts is everything counted for one set of lines (all, or one group).
type Counts struct {
	Total    uint64    `json:"total"`
	Class    [6]uint64 `json:"class"` // [1]..[5]: 1xx..5xx
	Code     [5]uint64 `json:"code"`  // in the order of TrackedCodes
	Bytes    float64   `json:"bytes"` // a float: bogus sizes (10^18 a line) would overflow an int64; exact below 2^53
	ReqTime  Histogram `json:"req"`
	Upstream Histogram `json:"up"`
}

// Merge adds o to c.
func (c *Counts) Merge(o *Counts) {
	c.Total += o.Total
	for i := range c.Class {
		c.Class[i] += o.Class[i]
	}
	for i := range c.Code {
		c.Code[i] += o.Code[i]
	}
	c.Bytes += o.Bytes
	c.ReqTime.Merge(&o.ReqTime)
	c.Upstream.Merge(&o.Upstream)
}

// CodeIndex is the index of status in TrackedCodes, or -1.
func CodeIndex(status int) int { return slices.Index(TrackedCodes, status) }

// Contribution is what one host's run adds to one window of a service.
type Contribution struct {
	// ID names the contribution: a window applies an ID at most once.
	ID      string `json:"id"`
	Service string `json:"service"`
	Host    string `json:"host"`
	Window  Window `json:"window"`
	At      int64  `json:"at"` // when the run read the lines (Unix ns): the spool's order
	// Moved says the contribution reached Redis after its window had
	// closed, and was moved to the window open then.
	Moved  bool               `json:"moved,omitempty"`
	All    Counts             `json:"all"`
	Groups map[string]*Counts `json:"groups,omitempty"` // by metric-name-safe group name
	// Errors are check-error-log's groups (a contribution of KindErrors).
	Errors []ErrorGroup `json:"errors,omitempty"`
}

// Group returns the counts of a group, creating them.
func (c *Contribution) Group(name string) *Counts {
	if c.Groups == nil {
		c.Groups = map[string]*Counts{}
	}
	g := c.Groups[name]
	if g == nil {
		g = &Counts{}
		c.Groups[name] = g
	}
	return g
}
