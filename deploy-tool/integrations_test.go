package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/mackereltest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// End-to-end tests of [window] (a calendar served over loopback HTTP) and
// [mackerel] (lib/mackereltest's fake API) on real balancers.

const testAPIKey = "deploy-tool-test-key"

// appendConfig adds sections after the config's [[server]] tables.
func appendConfig(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + text + "\n"); err != nil {
		t.Fatal(err)
	}
}

// freezeCalendar is a calendar, as Google Calendar exports it, with a
// freeze around now and a deploy slot tomorrow.
func freezeCalendar(now time.Time) string {
	stamp := func(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
	return strings.ReplaceAll(`BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
X-WR-CALNAME:deploys
X-WR-TIMEZONE:UTC
BEGIN:VEVENT
DTSTART:`+stamp(now.Add(-time.Hour))+`
DTEND:`+stamp(now.Add(time.Hour))+`
DTSTAMP:`+stamp(now)+`
UID:freeze-1@google.com
SUMMARY:code freeze
END:VEVENT
BEGIN:VEVENT
DTSTART:`+stamp(now.Add(24*time.Hour))+`
DTEND:`+stamp(now.Add(26*time.Hour))+`
DTSTAMP:`+stamp(now)+`
UID:slot-1@google.com
SUMMARY:deploy slot
END:VEVENT
END:VCALENDAR
`, "\n", "\r\n")
}

// Inside a freeze a rollout is refused with nothing touched (exit 3),
// naming the freeze and the next window; --outside-window goes on.
func TestWindowFreezeRefusesRollout(t *testing.T) {
	r := newFaultRig(t)
	cal := freezeCalendar(time.Now())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/calendar")
		fmt.Fprint(w, cal)
	}))
	t.Cleanup(srv.Close)
	path := r.config("", "")
	appendConfig(t, path, fmt.Sprintf("[window]\ncalendar = %q\nallow = \"^deploy\"\ndeny = \"freeze\"\nfetch_timeout = \"2s\"\n", srv.URL+"/calendar/ical/secret-path/basic.ics"))

	code, out := tool(t, "rollout", "--config", path)
	wantExit(t, code, out, exitRefused, `inside freeze "code freeze"`)
	if !strings.Contains(out, `next "deploy slot" starts`) {
		t.Errorf("the refusal does not name the next window")
	}
	if strings.Contains(out, "secret-path") {
		t.Errorf("the calendar's secret address was printed")
	}
	r.wantStates()
	r.wantVersions("v1", "v1", "v1", "v1")

	code, out = tool(t, "window", "--config", path, "--count", "2")
	wantExit(t, code, out, exitRefused, "rollouts refused")

	code, out = tool(t, "rollout", "--config", path, "--dry-run")
	wantExit(t, code, out, exitRefused, `inside freeze "code freeze"`)
	code, out = tool(t, "rollout", "--config", path, "--dry-run", "--outside-window", "hotfix for #123")
	wantExit(t, code, out, exitOK, `going on: --outside-window "hotfix for #123"`)
	r.wantVersions("v1", "v1", "v1", "v1")

	code, out = tool(t, "rollout", "--config", path, "--outside-window", "hotfix for #123")
	wantExit(t, code, out, exitOK, `going on: --outside-window "hotfix for #123"`)
	r.wantStates()
	r.wantVersions("v2", "v2", "v2", "v2")
}

// mackerelRig is the fault rig with a fake Mackerel API, its service
// "shop" holding the app hosts.
type mackerelRig struct {
	*faultRig
	f    *mackereltest.Server
	host string // the ID of a host of shop's app role
}

func newMackerelRig(t *testing.T) *mackerelRig {
	r := &mackerelRig{faultRig: newFaultRig(t), f: mackereltest.New(testAPIKey)}
	t.Cleanup(r.f.Close)
	r.host = r.f.AddHost(mackereltest.Host{Name: "app-1", Status: "working", Roles: map[string][]string{"shop": {"app"}}})
	return r
}

// config is a rollout, one server a batch, annotated in shop (and guarded
// by its alerts with stopOnAlert).
func (r *mackerelRig) config(command string, stopOnAlert bool) string {
	path := r.faultRig.config(command, "batch = 1\n")
	key := filepath.Join(filepath.Dir(path), "mackerel.key")
	if err := os.WriteFile(key, []byte(testAPIKey+"\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	appendConfig(r.t, path, fmt.Sprintf("[mackerel]\nservice = \"shop\"\nroles = [\"app\"]\napikey_file = \"mackerel.key\"\napibase = %q\nstop_on_alert = %v\ntimeout = \"500ms\"\n",
		r.f.URL, stopOnAlert))
	return path
}

// mkrAnnotations reads shop's annotations back with the real mkr.
func mkrAnnotations(t *testing.T, f *mackereltest.Server, from, to time.Time) []struct {
	Title, Description string
	From, To           int64
	Roles              []string
} {
	t.Helper()
	mkr := testenv.Tool(t, "mkr")
	res := testenv.Run(t, mkr, []string{"MACKEREL_APIKEY=" + testAPIKey}, "--apibase", f.URL, "annotations", "list",
		"--service", "shop", "--from", strconv.FormatInt(from.Unix()-60, 10), "--to", strconv.FormatInt(to.Unix()+60, 10))
	if res.Code != 0 {
		t.Fatalf("mkr annotations list: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	var list []struct {
		Title, Description string
		From, To           int64
		Roles              []string
	}
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("mkr output: %v\n%s", err, res.Stdout)
	}
	return list
}

// A rollout is one annotation, spanning the run, that mkr reads back.
func TestMackerelAnnotationReadBackByMkr(t *testing.T) {
	r := newMackerelRig(t)
	path := r.config("", true)
	t0 := time.Now()
	code, out := tool(t, "rollout", "--config", path)
	wantExit(t, code, out, exitOK, "")
	list := mkrAnnotations(t, r.f, t0, time.Now())
	if len(list) != 1 {
		t.Fatalf("mkr lists %d annotations, want 1: %+v", len(list), list)
	}
	a := list[0]
	if a.Title != "deploy to shop: done, 4 servers" || len(a.Roles) != 1 || a.Roles[0] != "app" ||
		a.From < t0.Unix() || a.To < a.From || !strings.Contains(a.Description, r.a.addrs[3]+": ok") {
		t.Errorf("mkr read back %+v", a)
	}
}

// An alert that opens during batch 1 stops the rollout before batch 2:
// servers as they are, the journal kept, the report names the alert.
func TestMackerelAlertStopsRollout(t *testing.T) {
	r := newMackerelRig(t)
	path := r.config(r.heldCommand(), true)
	release := r.hold(r.a.addrs[0])
	defer release()
	cmd, out := toolCmd(t, "rollout", "--config", path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitStarted(r.a.addrs[0], out)
	mon := r.f.AddMonitor(mackereltest.Monitor{Name: "p95 latency", Type: "host"})
	r.f.OpenAlert(mackereltest.Alert{MonitorID: mon, Type: "host", HostID: r.host, Value: 1.5, OpenedAt: time.Now().Unix()})
	release()
	code := processExit(t, cmd.Wait())
	wantExit(t, code, out.String(), exitFailed, `Mackerel alert opened during the rollout: CRITICAL "p95 latency" on app-1, value 1.5`)
	r.wantStates()
	r.wantVersions("v2", "v1", "v1", "v1")
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "state", "deploy-tool.journal.json")); err != nil {
		t.Errorf("the journal is not kept for --resume: %v", err)
	}
	anns := r.f.Annotations()
	if len(anns) != 1 || !strings.Contains(anns[0].Title, "STOPPED at batch 2: Mackerel alert") {
		t.Errorf("annotations %+v", anns)
	}
}

// A Mackerel that hangs costs each call its timeout and a warning: the
// rollout goes on, and the annotation waits in the pending file for
// status to post it.
func TestMackerelHangingDoesNotStopRollout(t *testing.T) {
	r := newMackerelRig(t)
	path := r.config("", true)
	r.f.HangNext(1000)
	code, out := tool(t, "rollout", "--config", path)
	wantExit(t, code, out, exitOK, "WARNING: mackerel:")
	r.wantStates()
	r.wantVersions("v2", "v2", "v2", "v2")
	r.f.HangNext(0)
	code, out = tool(t, "status", "--config", path)
	wantExit(t, code, out, exitOK, "")
	if strings.Contains(out, "not posted yet") {
		t.Errorf("status did not post the pending annotation")
	}
	if anns := r.f.Annotations(); len(anns) != 1 || anns[0].Title != "deploy to shop: done, 4 servers" {
		t.Errorf("annotations after status: %+v", anns)
	}
}

// slotCalendar is a deploy slot from start to end (to the second).
func slotCalendar(start, end time.Time) string {
	stamp := func(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nBEGIN:VEVENT\r\n" +
		"DTSTART:" + stamp(start) + "\r\nDTEND:" + stamp(end) + "\r\nDTSTAMP:" + stamp(start) + "\r\n" +
		"UID:slot-2@google.com\r\nSUMMARY:deploy slot\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
}

// A rollout that reaches its window's end starts no new batch (exit 1,
// the journal kept for --resume), unless finish_after_window.
func TestWindowEndStopsNewBatches(t *testing.T) {
	for _, finish := range []bool{false, true} {
		t.Run(fmt.Sprintf("finish_after_window=%v", finish), func(t *testing.T) {
			r := newFaultRig(t)
			testenv.BuildBinary(t, "deploy-tool") // before the clock starts
			end := time.Now().Add(5 * time.Second).Truncate(time.Second)
			file := filepath.Join(r.dir, "cal.ics")
			if err := os.WriteFile(file, []byte(slotCalendar(end.Add(-time.Hour), end)), 0o644); err != nil {
				t.Fatal(err)
			}
			path := r.config(r.heldCommand(), "")
			appendConfig(t, path, fmt.Sprintf("[window]\ncalendar = %q\nallow = \"^deploy\"\nfinish_after_window = %v\n", file, finish))
			release := r.hold(r.a.addrs[0])
			defer release()
			cmd, out := toolCmd(t, "rollout", "--config", path)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r.waitStarted(r.a.addrs[0], out)
			time.Sleep(time.Until(end.Add(100 * time.Millisecond))) // the window's end, no event to wait for
			release()
			code := processExit(t, cmd.Wait())
			r.wantStates()
			if finish {
				wantExit(t, code, out.String(), exitOK, "")
				r.wantVersions("v2", "v2", "v2", "v2")
				return
			}
			wantExit(t, code, out.String(), exitFailed, "the deploy window ended")
			r.wantVersions("v2", "v1", "v1", "v1")
			code, st := tool(t, "status", "--config", path)
			wantExit(t, code, st, exitOK, "rollout: UNFINISHED")
		})
	}
}

// An alert open before the rollout refuses it, nothing touched (exit 3),
// unless --ignore-open-alerts; down and up of one server are one
// annotation.
func TestMackerelOpenAlertAndDownUpPair(t *testing.T) {
	r := newMackerelRig(t)
	path := r.config("", true)
	mon := r.f.AddMonitor(mackereltest.Monitor{Name: "5xx count", Type: "host"})
	r.f.OpenAlert(mackereltest.Alert{MonitorID: mon, Type: "host", HostID: r.host, Value: 12, OpenedAt: time.Now().Add(-time.Minute).Unix()})
	code, out := tool(t, "rollout", "--config", path)
	wantExit(t, code, out, exitRefused, `already open for shop:app: CRITICAL "5xx count" on app-1, value 12`)
	r.wantStates()
	r.wantVersions("v1", "v1", "v1", "v1")
	if anns := r.f.Annotations(); len(anns) != 0 {
		t.Errorf("a refused rollout posted %+v", anns)
	}

	code, out = tool(t, "rollout", "--config", path, "--ignore-open-alerts")
	wantExit(t, code, out, exitOK, "alert already open, ignored")
	r.wantVersions("v2", "v2", "v2", "v2")

	code, out = tool(t, "down", "--config", path, r.a.addrs[1])
	wantExit(t, code, out, exitOK, "")
	code, out = tool(t, "up", "--config", path, r.a.addrs[1])
	wantExit(t, code, out, exitOK, "")
	r.wantStates()
	anns := r.f.Annotations()
	if len(anns) != 2 || !strings.Contains(anns[0].Description, "started with --ignore-open-alerts") ||
		anns[1].Title != "down/up to shop: done, 1 server" || anns[1].To < anns[1].From {
		t.Errorf("annotations %+v", anns)
	}
}
