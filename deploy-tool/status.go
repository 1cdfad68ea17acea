package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// StatusOptions are the flags of `deploy-tool status`.
type StatusOptions struct {
	ConfigFlag
	JSON bool `long:"json" description:"print JSON for machines"`
}

// Status is what `status --json` prints.
type Status struct {
	Balancers []BalancerStatus `json:"balancers"`
	Lock      LockStatus       `json:"lock"`
	Rollout   *journal.Journal `json:"rollout,omitempty"`       // an unfinished rollout
	Journal   string           `json:"journal_error,omitempty"` // a journal that cannot be read: every rollout is refused
	// ChangedParams are the servers whose max_fails deploy-tool set to 0
	// and has not put back yet.
	ChangedParams []string `json:"changed_params,omitempty"`
	// Hosts is what the deploy hosts' etcd knows ([coordination] only):
	// the lock holder and every registered server.
	Hosts      *coord.Status `json:"hosts,omitempty"`
	HostsError string        `json:"hosts_error,omitempty"`
	// PendingAnnotations are the Mackerel graph annotations ([mackerel])
	// not posted yet, after status tried to post them.
	PendingAnnotations int `json:"pending_annotations,omitempty"`
}

// BalancerStatus is one balancer's servers, or why it could not be read.
type BalancerStatus struct {
	Name    string         `json:"name"`
	Error   string         `json:"error,omitempty"`
	Servers []ServerStatus `json:"servers"`
}

// ServerStatus is one server of one upstream, as `status --json` prints it.
type ServerStatus struct {
	Upstream string `json:"upstream"`
	Addr     string `json:"addr"`
	Name     string `json:"name,omitempty"`   // HAProxy server name
	State    string `json:"state"`            // up, down, draining
	Health   string `json:"health,omitempty"` // HAProxy check status
	Weight   int    `json:"weight"`
	Active   int    `json:"active"` // requests in flight; -1 when not reported
	// nginx's passive health check; -1 when not reported (HAProxy).
	MaxFails    int `json:"max_fails"`
	FailTimeout int `json:"fail_timeout_s"`
}

func serverStatus(s balancer.Server) ServerStatus {
	ft := -1
	if s.FailTimeout >= 0 {
		ft = int(s.FailTimeout / time.Second)
	}
	return ServerStatus{Upstream: s.Upstream, Addr: s.Addr, Name: s.Name, State: string(s.State), Health: s.Health, Weight: s.Weight, Active: s.Active,
		MaxFails: s.MaxFails, FailTimeout: ft}
}

// LockStatus tells whether a run holds the deploy host's lock.
type LockStatus struct {
	Held   bool   `json:"held"`
	Holder string `json:"holder,omitempty"`
}

// Status prints every server on every balancer, and any rollout in
// progress. It fails (exit 1) when a balancer or the journal cannot be read.
func (app *App) Status(ctx context.Context, opts StatusOptions) error {
	if err := app.setup(opts.Config); err != nil {
		return err
	}
	cfg, cl, stdout := app.cfg, app.cl, app.stdout
	snap, readErr := cl.Read()
	var st Status
	for _, b := range snap.Balancers() {
		bs := BalancerStatus{Name: b, Servers: []ServerStatus{}}
		for _, s := range snap.Servers(b) {
			bs.Servers = append(bs.Servers, serverStatus(s))
		}
		if err := snap.Err(b); err != nil {
			bs.Error = cfg.Redact(err.Error())
		}
		st.Balancers = append(st.Balancers, bs)
	}
	st.Lock.Held, st.Lock.Holder = coord.Locked(cfg.LockPath())
	hostsErr := readHosts(ctx, cfg, &st)
	st.ChangedParams = cl.FailuresLeft()
	st.PendingAnnotations = flushAnnotations(ctx, cfg, app.log)
	j, jerr := journal.Load(cfg.JournalPath())
	st.Rollout = j
	if jerr != nil {
		st.Journal = jerr.Error()
	}
	if opts.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	} else {
		writeStatus(stdout, st)
	}
	if readErr != nil {
		return reported(readErr)
	}
	if jerr != nil {
		return reported(jerr)
	}
	return reported(hostsErr)
}

func writeStatus(w io.Writer, st Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BALANCER\tUPSTREAM\tSERVER\tNAME\tSTATE\tHEALTH\tACTIVE\tMAX_FAILS")
	for _, b := range st.Balancers {
		if b.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tUNREADABLE\t%s\t-\n", b.Name, b.Error)
			continue
		}
		for _, s := range b.Servers {
			active := "-"
			if s.Active >= 0 {
				active = strconv.Itoa(s.Active)
			}
			fails := "-"
			if s.MaxFails >= 0 {
				fails = fmt.Sprintf("%d/%ds", s.MaxFails, s.FailTimeout)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, s.Upstream, s.Addr, dash(s.Name), s.State, dash(s.Health), active, fails)
		}
	}
	tw.Flush()
	if st.Lock.Held {
		fmt.Fprintf(w, "\nlock: held by %s\n", st.Lock.Holder)
	} else {
		fmt.Fprintln(w, "\nlock: free")
	}
	for _, p := range st.ChangedParams {
		fmt.Fprintf(w, "changed by deploy-tool, not put back yet: %s\n", p)
	}
	if st.Journal != "" {
		fmt.Fprintf(w, "rollout: %s: every rollout is refused until it is moved away or fixed\n", st.Journal)
	}
	writeHosts(w, st)
	if st.PendingAnnotations > 0 {
		fmt.Fprintf(w, "mackerel: %d graph annotation(s) not posted yet (Mackerel did not take them; the next run or status posts them)\n", st.PendingAnnotations)
	}
	if j := st.Rollout; j != nil {
		fmt.Fprintf(w, "rollout: started %s by %s: %s\n", j.Started.Format("2006-01-02 15:04:05Z07:00"), j.Holder, formatCounts(j.Counts()))
		if !st.Lock.Held {
			fmt.Fprintln(w, "rollout: UNFINISHED and no run holds the lock: `deploy-tool rollout --resume` continues it")
		}
		for _, a := range j.Servers {
			fmt.Fprintf(w, "  %s\t%s\n", a, j.Progress[a])
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readHosts reads the deploy hosts' etcd, with [coordination].
func readHosts(ctx context.Context, cfg *config.Config, st *Status) error {
	opts, ok := cfg.CoordinationOptions()
	if !ok {
		return nil
	}
	hosts, err := coord.ReadStatus(ctx, opts)
	if err != nil {
		st.HostsError = cfg.Redact(err.Error())
		return err
	}
	st.Hosts = hosts
	return nil
}

// writeHosts prints the deploy hosts' lock and registrations.
func writeHosts(w io.Writer, st Status) {
	switch h := st.Hosts; {
	case st.HostsError != "":
		fmt.Fprintf(w, "deploy hosts: etcd cannot be read: %s\n", st.HostsError)
	case h == nil:
	case h.Holder == nil:
		fmt.Fprintf(w, "deploy hosts' lock (%s): free\n", h.Prefix)
	default:
		fmt.Fprintf(w, "deploy hosts' lock (%s): held by %s, %d waiting\n", h.Prefix, h.Holder, h.Waiting)
	}
	if st.Hosts == nil {
		return
	}
	for _, s := range st.Hosts.Servers {
		lease := "lease alive"
		if !s.Alive {
			lease = "lease DEAD: state unknown"
		}
		fmt.Fprintf(w, "  %s taken by %s (run %s) %v ago, %s\n", s.Addr, s.Host, s.RunID, s.Age.Round(time.Second), lease)
	}
}
