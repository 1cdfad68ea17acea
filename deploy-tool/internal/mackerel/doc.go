// Package mackerel is deploy-tool's [mackerel] section: each run drawn as a
// graph annotation on the service (and roles), and the open alerts of the
// service read before each batch, so that a rollout stops when Mackerel
// alerts.
//
//	[mackerel]
//	service = "shop"
//	roles = ["app"]                 # optional
//	apikey_file = "mackerel.key"    # else $MACKEREL_APIKEY, else agent_conf's apikey
//	# agent_conf = "/etc/mackerel-agent/mackerel-agent.conf"
//	# apibase = "https://api.mackerelio.com"
//	stop_on_alert = true
//	timeout = "5s"                  # each API call, at most 30s
//
// Use: Section.Options at config load; New (nil without the section; every
// method of a nil *Client or *Guard does nothing); FlushPending at
// preflight and in status; Watch at preflight and Guard.Check before each
// batch; Start when the first server goes out; Finish when the run ends,
// with Result.Title and Result.Description; `down` ends with Park(server)
// instead of Finish, and `up` calls Unpark(server) before its Finish, so the
// pair is one annotation.
//
// # A slow or failing Mackerel never stops or slows a rollout
//
// Every API call carries a deadline (timeout, default 5 s; OpenAlerts shares
// one for all its calls). A failure is one warning line. An annotation that
// Mackerel did not take is kept in mackerel-pending.json in deploy-tool's
// state directory (written atomically, under a lock, through lib/state) and
// posted by the run's Finish, the next run or `deploy-tool status`
// (FlushPending), which stops at the first failure so that a Mackerel that
// is down costs one bounded call.
//
// # Never posted twice
//
// A create whose answer was lost (a timeout, a cut connection) may have
// landed. Each annotation's description ends with a line
// "deploy-tool run KEY" (KEY random per run); before creating again an
// annotation whose create was sent, the annotations of the service over its
// span are listed and the one with that line is updated instead. Updates
// are PUTs of the whole annotation: repeating one is harmless. FlushPending
// holds the pending file's lock while it posts and skips the entries of a
// run still going on (its PID is alive), so a `status` during a rollout
// never races the rollout's own Finish. An answer that repeating cannot
// change (a 4xx other than 401, 403, 408, 429) drops the entry with a
// warning instead of retrying it forever.
//
// # Alerts already open when a rollout starts: refused, unless --ignore-open-alerts
//
// With stop_on_alert, a rollout stops when an alert opens after it started
// (NewSince, and not one of those open at preflight: a clock skew between
// this host and Mackerel cannot turn an ignored alert into a new one). An alert already open at the start cannot do that: Mackerel
// does not open it again when the deploy makes it worse, so the guard is
// blind to exactly the graph people are watching, and nobody can tell
// afterwards whether the deploy moved it. So Preflight refuses (deploy-tool
// exits 3, nothing touched, like a closed deploy window) and names each
// alert with its URL. Deploying over an open alert is often the point (the
// hotfix for it): --ignore-open-alerts goes on, names the alerts as a
// notice, and the annotation's description says so. If the alerts cannot
// be read, the rollout goes on with a warning, as for every Mackerel
// failure: the guard is a help, not a gate that Mackerel's own outage
// could close. On --resume, the resumed run is a new start: an alert that
// stopped the first run is open at the resume's preflight and must be
// closed, or ignored on purpose.
//
// # Which alerts concern the service
//
// An alert on a host that GET /api/v0/hosts?service=S&role=R lists (every
// role of the service when roles is empty), or an alert of type "service"
// from a service metric monitor naming the service. Expression and
// anomaly-detection monitors without a host are not matched.
//
// # Why mackerel-client-go
//
// github.com/mackerelio/mackerel-client-go (v0.43.0, the version mkr
// v0.55.0 uses) has a Context variant of every call used here, so each call
// gets its own deadline, and it is the code mkr itself sends with: the
// annotation that `mkr annotations list` reads back has the same fields. It
// has no retries and logs nothing unless verbose. Like mkr, it replaces the
// apibase URL's path: an apibase with a path is refused.
//
// # API key
//
// From apikey_file, else $MACKEREL_APIKEY, else mackerel-agent.conf's
// apikey (agent_conf, default /etc/mackerel-agent/mackerel-agent.conf), as
// mkr does; apibase, when not set, is also taken from mackerel-agent.conf.
// The key is an Options.APIKey of type Secret, which never prints, and no
// message quotes it.
package mackerel
