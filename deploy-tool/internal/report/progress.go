// Package report owns what a run tells: the progress lines (timestamped,
// secrets redacted, a command's output prefixed with its host), the
// per-server summary table, and the webhook notices.
package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
)

// Progress prints one line per step with the time since the run started.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	secrets []string
}

// Redact makes every later line replace the given secrets (the config's
// webhook URL, balancer passwords) before it is printed.
func (p *Progress) Redact(secrets []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.secrets = secrets
}

// NewProgress starts the clock.
func NewProgress(w io.Writer) *Progress { return &Progress{w: w, start: time.Now()} }

// Printf prints one line.
func (p *Progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%7.2fs] %s\n", time.Since(p.start).Seconds(), config.Redact(fmt.Sprintf(format, args...), p.secrets))
}

// Elapsed is the time since the run started.
func (p *Progress) Elapsed() time.Duration { return time.Since(p.start) }

// Prefixed returns a writer that prints each line it is given as
// "[elapsed] host | line": a deploy command's output.
func (p *Progress) Prefixed(host string) *prefixWriter {
	return &prefixWriter{p: p, prefix: host + " | "}
}

type prefixWriter struct {
	mu     sync.Mutex
	p      *Progress
	prefix string
	buf    bytes.Buffer
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // incomplete: keep for later
			break
		}
		w.p.Printf("%s%s", w.prefix, strings.TrimRight(line, "\r\n"))
	}
	return len(b), nil
}

// Flush prints a last line that had no newline.
func (w *prefixWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.p.Printf("%s%s", w.prefix, w.buf.String())
		w.buf.Reset()
	}
}

// Steps of one server's cycle, as timed in the summary.
var stepNames = []string{"down", "drain", "deploy", "health", "up"}

// Outcome is what a rollout did to one server.
type Outcome int

// The outcomes of one server, from the engine's point of view; the final
// report still reads the balancers back rather than trusting them.
const (
	NotStarted    Outcome = iota // not touched by this run
	Skipped                      // down before the run (--allow-down): left as it was
	PutBack                      // taken out, nothing deployed, put back in rotation
	LeftDown                     // out of rotation (the command or health check failed, or put-back failed)
	DeployedNotUp                // deployed and healthy, but not back up on every balancer
	Done                         // deployed, healthy, up everywhere
)

// ServerResult is one server's line in the summary.
type ServerResult struct {
	Server  config.Server
	Times   map[string]time.Duration
	Outcome Outcome
	Result  string // the outcome in words, with the reason
}

// Set records the outcome and its words.
func (r *ServerResult) Set(o Outcome, result string) {
	r.Outcome, r.Result = o, result
}

// WriteSummary prints the summary table.
func WriteSummary(w io.Writer, rs []*ServerResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "SERVER")
	for _, s := range stepNames {
		fmt.Fprint(tw, "\t"+strings.ToUpper(s))
	}
	fmt.Fprintln(tw, "\tTOTAL\tRESULT")
	for _, r := range rs {
		fmt.Fprint(tw, r.Server.Label())
		var total time.Duration
		for _, s := range stepNames {
			d, ok := r.Times[s]
			if !ok {
				fmt.Fprint(tw, "\t-")
				continue
			}
			total += d
			fmt.Fprintf(tw, "\t%.2fs", d.Seconds())
		}
		fmt.Fprintf(tw, "\t%.2fs\t%s\n", total.Seconds(), r.Result)
	}
	tw.Flush()
}
