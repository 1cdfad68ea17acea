// Package balancer is one small interface for "a load balancer that knows
// servers of upstreams", with drivers for ngx_dynamic_upstream (and the Lua
// drop-in in nginx/ that serves the same API) and HAProxy's runtime API.
// deploy-tool and mackerel-plugin-upstream use it, and read balancers through
// one shared view: ReadAll and Snapshot (snapshot.go), SameAddr and Serving
// (view.go).
package balancer

import (
	"context"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// State is a server's administrative state as the balancer reports it.
type State string

const (
	// Up: the balancer sends it new requests (HAProxy: "ready", whatever its
	// health checks say; see Server.Health).
	Up State = "up"
	// Down: no new requests (nginx down flag; HAProxy maint).
	Down State = "down"
	// Draining: no new requests, in-flight ones finish (HAProxy drain).
	Draining State = "draining"
)

// Server is one server of one upstream.
type Server struct {
	Upstream string // nginx zone name or HAProxy backend
	Addr     string // IP:port exactly as the balancer prints it
	Name     string // HAProxy server name; empty for nginx
	State    State
	Health   string // raw status where the balancer has one (HAProxy UP, DOWN, DRAIN, MAINT…); "" otherwise
	Weight   int
	Active   int // requests in flight (HAProxy scur+qcur, drop-in active=); -1 when not reported
	// nginx's passive health check, from the verbose listing: after MaxFails
	// failed requests within FailTimeout the server is skipped for
	// FailTimeout (MaxFails 0: never). -1 when not reported (HAProxy).
	MaxFails    int
	FailTimeout time.Duration
}

// Drained reports whether the server is out of rotation with nothing in
// flight. A balancer that does not report Active is never "drained" by this
// test: callers fall back to a timed wait.
func (s Server) Drained() bool { return s.State != Up && s.Active == 0 }

// Balancer is one configured load balancer.
type Balancer interface {
	// Name is the configured name, used in every message.
	Name() string
	// Upstreams are the configured upstream zones or backends.
	Upstreams() []string
	// ReportsActive tells whether Server.Active is meaningful.
	ReportsActive() bool
	// List returns every server of every configured upstream.
	List(ctx context.Context) ([]Server, error)
	// Down, Drain and Up change one server (addr as IP:port, or a hostname
	// that is resolved and matched) and confirm the change by reading the
	// state back; an error names the balancer, the upstream and the server.
	// For nginx, Drain is the same as Down.
	Down(ctx context.Context, upstream, addr string) error
	Drain(ctx context.Context, upstream, addr string) error
	Up(ctx context.Context, upstream, addr string) error
}

// Config is one balancer as written in the suite's TOML files
// (`[[balancer]]` tables), shared by deploy-tool and mackerel-plugin-upstream.
type Config struct {
	Name      string   `toml:"name"`
	Driver    string   `toml:"driver"`    // "ngx_dynamic_upstream" or "haproxy"
	URL       string   `toml:"url"`       // ngx_dynamic_upstream: base URL of the dynamic_upstream location
	Socket    string   `toml:"socket"`    // haproxy: unix socket path, or host:port
	Upstreams []string `toml:"upstreams"` // nginx zone names or HAProxy backends
	User      string   `toml:"user"`      // optional basic auth (nginx)
	Password  string   `toml:"password"`
	Timeout   Duration `toml:"timeout"` // per call; default 5s
}

// Duration is the suite's one duration type (lib/cli): timeout = 5 is five
// seconds, as is "5s"; "1500ms" and "2m" take their unit.
type Duration = cli.Duration
