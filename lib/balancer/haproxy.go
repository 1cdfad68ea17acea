package balancer

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HAProxy drives HAProxy's runtime API on a stats socket with `level admin`
// (a unix socket path, or host:port for `stats socket ipv4@…`). It reports
// Active as scur+qcur from `show stat`.
type HAProxy struct {
	cfg     Config
	network string
	address string
}

// NewHAProxy builds the haproxy driver.
func NewHAProxy(cfg Config) (*HAProxy, error) {
	network, address := "unix", cfg.Socket
	if a, ok := strings.CutPrefix(cfg.Socket, "unix:"); ok {
		address = a
	} else if a, ok := strings.CutPrefix(cfg.Socket, "tcp:"); ok {
		network, address = "tcp", a
	} else if !strings.Contains(cfg.Socket, "/") {
		if _, _, err := net.SplitHostPort(cfg.Socket); err == nil {
			network = "tcp"
		}
	}
	for _, up := range cfg.Upstreams {
		if strings.ContainsAny(up, " \t\r\n;/") {
			return nil, fmt.Errorf("balancer %s: backend name %q cannot be sent to the runtime API", cfg.Name, up)
		}
	}
	return &HAProxy{cfg: cfg, network: network, address: address}, nil
}

func (h *HAProxy) Name() string        { return h.cfg.Name }
func (h *HAProxy) Upstreams() []string { return slices.Clone(h.cfg.Upstreams) }
func (h *HAProxy) ReportsActive() bool { return true }

// command sends one runtime API command and returns the whole answer (the
// socket closes after it in non-interactive mode).
func (h *HAProxy) command(ctx context.Context, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout())
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, h.network, h.address)
	if err != nil {
		return "", fmt.Errorf("balancer %s: runtime API %s: %v", h.cfg.Name, h.address, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("balancer %s: runtime API %s: sending %q: %v", h.cfg.Name, h.address, cmd, err)
	}
	b, err := io.ReadAll(io.LimitReader(conn, 32<<20))
	if err != nil {
		return "", fmt.Errorf("balancer %s: runtime API %s: answer to %q: %v", h.cfg.Name, h.address, cmd, err)
	}
	return string(b), nil
}

// List reads `show stat` (status, weight, scur, qcur, address) and `show
// servers state` (the administrative state) for every configured backend.
func (h *HAProxy) List(ctx context.Context) ([]Server, error) {
	stat, err := h.command(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	rows, err := ParseStat([]byte(stat))
	if err != nil {
		return nil, fmt.Errorf("balancer %s: show stat: %v", h.cfg.Name, err)
	}
	var out []Server
	for _, be := range h.cfg.Upstreams {
		servers, err := h.backend(ctx, be, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, servers...)
	}
	return out, nil
}

func (h *HAProxy) backend(ctx context.Context, be string, rows []StatRow) ([]Server, error) {
	found := false
	var out []Server
	for _, r := range rows {
		if r.Proxy != be {
			continue
		}
		found = true
		if r.Server == "BACKEND" || r.Server == "FRONTEND" {
			continue
		}
		out = append(out, Server{
			Upstream: be, Addr: r.Addr, Name: r.Server, State: stateFromStatus(r.Status),
			Health: r.Status, Weight: r.Weight, Active: r.Current + r.Queued,
			MaxFails: -1, FailTimeout: -1,
		})
	}
	if !found {
		return nil, fmt.Errorf("balancer %s: backend %s not found in show stat", h.cfg.Name, be)
	}
	// The administrative state (and the address, for HAProxy versions whose
	// show stat has no addr column) comes from show servers state.
	text, err := h.command(ctx, "show servers state "+be)
	if err != nil {
		return nil, err
	}
	states, err := parseServersState(text)
	if err != nil {
		return nil, fmt.Errorf("balancer %s: show servers state %s: %v", h.cfg.Name, be, err)
	}
	for i := range out {
		st, ok := states[out[i].Name]
		if !ok {
			continue
		}
		out[i].State = st.state
		if out[i].Addr == "" {
			out[i].Addr = st.addr
		}
	}
	return out, nil
}

// stateFromStatus is the fallback when show servers state lacks a server.
func stateFromStatus(status string) State {
	switch {
	case strings.HasPrefix(status, "MAINT"):
		return Down
	case strings.HasPrefix(status, "DRAIN"):
		return Draining
	}
	return Up
}

// Down puts the server in maintenance (`state maint`): no new requests, and
// HAProxy closes nothing in flight.
func (h *HAProxy) Down(ctx context.Context, backend, addr string) error {
	return h.set(ctx, backend, addr, "maint", Down)
}

// Drain stops new requests (`state drain`); in-flight ones finish.
func (h *HAProxy) Drain(ctx context.Context, backend, addr string) error {
	return h.set(ctx, backend, addr, "drain", Draining)
}

// Up makes the server ready again; it takes traffic once its health checks
// pass (see Server.Health).
func (h *HAProxy) Up(ctx context.Context, backend, addr string) error {
	return h.set(ctx, backend, addr, "ready", Up)
}

// SetWeight sets the server's weight (`set weight BE/SRV N`).
func (h *HAProxy) SetWeight(ctx context.Context, backend, addr string, weight int) error {
	if weight < 0 || weight > 256 {
		return fmt.Errorf("balancer %s backend %s: server %s: weight %d is outside 0…256", h.cfg.Name, backend, addr, weight)
	}
	target, err := h.find(ctx, backend, addr)
	if err != nil {
		return err
	}
	if err := h.run(ctx, backend, target, fmt.Sprintf("set weight %s/%s %d", backend, target.Name, weight)); err != nil {
		return err
	}
	return h.confirm(ctx, backend, target, "weight "+strconv.Itoa(weight), func(s Server) bool { return s.Weight == weight })
}

func (h *HAProxy) find(ctx context.Context, backend, addr string) (Server, error) {
	if !slices.Contains(h.cfg.Upstreams, backend) {
		return Server{}, fmt.Errorf("balancer %s: backend %s is not configured (configured: %s)", h.cfg.Name, backend, strings.Join(h.cfg.Upstreams, ", "))
	}
	stat, err := h.command(ctx, "show stat")
	if err != nil {
		return Server{}, err
	}
	rows, err := ParseStat([]byte(stat))
	if err != nil {
		return Server{}, fmt.Errorf("balancer %s: show stat: %v", h.cfg.Name, err)
	}
	servers, err := h.backend(ctx, backend, rows)
	if err != nil {
		return Server{}, err
	}
	return findServer(ctx, h.cfg.Name, backend, servers, addr)
}

func (h *HAProxy) set(ctx context.Context, backend, addr, state string, want State) error {
	target, err := h.find(ctx, backend, addr)
	if err != nil {
		return err
	}
	if err := h.run(ctx, backend, target, fmt.Sprintf("set server %s/%s state %s", backend, target.Name, state)); err != nil {
		return err
	}
	return h.confirm(ctx, backend, target, "state "+state, func(s Server) bool { return s.State == want })
}

// run sends a command whose success is an empty answer.
func (h *HAProxy) run(ctx context.Context, backend string, target Server, cmd string) error {
	ans, err := h.command(ctx, cmd)
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(ans); msg != "" {
		return fmt.Errorf("balancer %s backend %s server %s (%s): %q: %s", h.cfg.Name, backend, target.Name, target.Addr, cmd, msg)
	}
	return nil
}

func (h *HAProxy) confirm(ctx context.Context, backend string, target Server, what string, ok func(Server) bool) error {
	stat, err := h.command(ctx, "show stat")
	if err != nil {
		return err
	}
	rows, err := ParseStat([]byte(stat))
	if err != nil {
		return fmt.Errorf("balancer %s: show stat: %v", h.cfg.Name, err)
	}
	servers, err := h.backend(ctx, backend, rows)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.Name == target.Name {
			if !ok(s) {
				return fmt.Errorf("balancer %s backend %s server %s (%s): %s was not applied: now %s (status %s)",
					h.cfg.Name, backend, target.Name, target.Addr, what, describe(s), s.Health)
			}
			return nil
		}
	}
	return fmt.Errorf("balancer %s backend %s: server %s vanished after %s", h.cfg.Name, backend, target.Name, what)
}

// StatRow is the part of one `show stat` line the driver uses.
type StatRow struct {
	Proxy, Server string // pxname, svname (FRONTEND/BACKEND for the aggregates)
	Queued        int    // qcur
	Current       int    // scur
	Status        string // UP, DOWN, DRAIN, MAINT, "no check", "UP 1/3"…
	Weight        int
	Addr          string // addr ("" when the column is absent or empty)
}

// ParseStat parses `show stat` CSV. Columns are found by the header line
// ("# pxname,svname,…"); pxname, svname, qcur, scur and status must be there.
func ParseStat(b []byte) ([]StatRow, error) {
	header, rest, ok := bytes.Cut(b, []byte("\n"))
	h := strings.TrimPrefix(strings.TrimSpace(string(header)), "# ")
	if !ok || !strings.HasPrefix(h, "pxname,") {
		return nil, fmt.Errorf("no CSV header (%.60q)", string(header))
	}
	col := map[string]int{}
	for i, name := range strings.Split(h, ",") {
		if _, dup := col[name]; !dup && name != "" {
			col[name] = i
		}
	}
	for _, need := range []string{"pxname", "svname", "qcur", "scur", "status"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("header has no %s column", need)
		}
	}
	r := csv.NewReader(bytes.NewReader(rest))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var out []StatRow
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		field := func(name string) string {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return rec[i]
		}
		num := func(name string) (int, error) {
			v := field(name)
			if v == "" {
				return 0, nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("line %d: %s %q is not a count", line, name, v)
			}
			return n, nil
		}
		row := StatRow{Proxy: field("pxname"), Server: field("svname"), Status: field("status"), Addr: field("addr")}
		if row.Proxy == "" || row.Server == "" {
			return nil, fmt.Errorf("line %d: no pxname or svname", line)
		}
		if row.Queued, err = num("qcur"); err != nil {
			return nil, err
		}
		if row.Current, err = num("scur"); err != nil {
			return nil, err
		}
		if row.Weight, err = num("weight"); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

type serverState struct {
	addr  string
	state State
}

// HAProxy's SRV_ADMF_* bits in srv_admin_state.
const (
	admForcedMaint    = 0x01
	admInheritedMaint = 0x02
	admConfigMaint    = 0x04
	admForcedDrain    = 0x08
	admInheritedDrain = 0x10
	admResolveMaint   = 0x20
)

// parseServersState parses `show servers state BE` (format version 1),
// finding columns by the "# be_id be_name …" header.
func parseServersState(text string) (map[string]serverState, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("unexpected answer (%.60q)", text)
	}
	head := strings.Fields(strings.TrimPrefix(lines[1], "#"))
	col := map[string]int{}
	for i, name := range head {
		col[name] = i
	}
	for _, need := range []string{"srv_name", "srv_addr", "srv_admin_state", "srv_port"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("header has no %s column", need)
		}
	}
	out := map[string]serverState{}
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) < len(head) {
			continue
		}
		adm, err := strconv.Atoi(f[col["srv_admin_state"]])
		if err != nil {
			return nil, fmt.Errorf("srv_admin_state %q is not a number", f[col["srv_admin_state"]])
		}
		st := Up
		switch {
		case adm&(admForcedMaint|admInheritedMaint|admConfigMaint|admResolveMaint) != 0:
			st = Down
		case adm&(admForcedDrain|admInheritedDrain) != 0:
			st = Draining
		}
		out[f[col["srv_name"]]] = serverState{
			addr:  net.JoinHostPort(f[col["srv_addr"]], f[col["srv_port"]]),
			state: st,
		}
	}
	return out, nil
}
