package main

// Record is what a parser takes from one access-log line. Byte slices point
// into the line and are valid only until the next line is read; parsers must
// not allocate per line on the hot path.
type Record struct {
	Status int // HTTP status; 0 when the line has none (counted as malformed)

	// Times in whole microseconds, so that percentiles are exact at the
	// resolution the log writes (nginx: ms, Apache %D: µs).
	ReqTimeUS       int64
	HasReqTime      bool
	UpstreamTimeUS  int64 // several values ("0.012, 0.034", "0.1 : 0.2") are summed
	HasUpstreamTime bool
	BytesSent       int64
	HasBytesSent    bool
	Path            []byte // request path without the query string, for --group NAME=REGEX
	GroupValue      []byte // the --group-by field's value
	HasGroupValue   bool
}

// Reset clears r for the next line.
func (r *Record) Reset() { *r = Record{} }

// Fields says which fields a parser extracts, by name (LTSV labels, JSON
// keys, nginx variable names without '$').
type Fields struct {
	Status       string   // --status-key, default "status"
	Times        []string // --time-key, first present wins; default reqtime, request_time, ptime, taken_sec
	UpstreamTime string   // --upstream-time-key, default "upstream_response_time" (LTSV/JSON also try "apptime")
	Bytes        string   // default "size" for LTSV, "body_bytes_sent" for nginx formats
	Path         string   // request path or the whole request line; default "uri" / "request"
	SkipPath     bool     // the path is not wanted (no --group): not looked for
	GroupBy      string   // --group-by; "" when not grouping
	TimeUnit     string   // "s" (default), "ms", "us": the unit of the request-time fields
}

// Parser turns one line (without its newline) into a Record. An error means
// the line is malformed; it is counted, never fatal.
type Parser interface {
	Parse(line []byte, r *Record) error
}
