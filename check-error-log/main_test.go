package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// Bad input: one line naming the input, UNKNOWN (3), and no secret.
func TestBadInput(t *testing.T) {
	bin := testenv.BuildBinary(t, "check-error-log")
	dir := t.TempDir()
	log := filepath.Join(dir, "error.log")
	appendFile(t, log, "")
	hook := filepath.Join(dir, "hook")
	os.WriteFile(hook, []byte("ftp://hooks.example/services/T000SECRET\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	state := []string{"--state-dir", dir}
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"-p", "x"}, nil, "ErrorLog UNKNOWN: no log file given: use --file PATH (see --help)\n"},
		{[]string{"-f", log}, nil, "ErrorLog UNKNOWN: no --pattern given: say which lines are errors, e.g. --pattern 'PHP (Fatal|Parse) error' (see --help)\n"},
		{[]string{"-f", log, "-p", "("}, nil, `ErrorLog UNKNOWN: --pattern "(": error parsing regexp: missing closing ): ` + "`(`"},
		{[]string{"-f", log, "-p", "x", "-x", "[z"}, nil, `ErrorLog UNKNOWN: --exclude "[z"`},
		{[]string{"-f", log, "-p", "x", "--critical", "-1"}, nil, "ErrorLog UNKNOWN: --critical -1: want 0 (never) or more"},
		{[]string{"-f", log, "-p", "x", "--bogus"}, nil, "ErrorLog UNKNOWN: unknown flag --bogus"},
		{[]string{"-f", log, "-p", "x", "--status", "maybe"}, nil, `ErrorLog UNKNOWN: --status: "maybe": want critical, warning, unknown or ok`},
		{[]string{"-f", log, "-p", "x", "stray"}, nil, `ErrorLog UNKNOWN: unexpected argument "stray"`},
		{[]string{"-f", log, "-p", "x", "--slack-webhook", "https://h/T000SECRET", "https://h/T000SECRET"}, nil, "ErrorLog UNKNOWN: unexpected argument (a URL, not shown: it may hold a secret)"},
		{[]string{"-f", log, "-p", "x", "--slack-webhook-file", hook}, nil, "ErrorLog UNKNOWN: the Slack webhook URL from --slack-webhook-file " + hook + " is not an http(s) URL (not shown: it is a secret)"},
		{[]string{"-f", log, "-p", "x", "--slack-webhook-file", empty}, nil, "ErrorLog UNKNOWN: --slack-webhook-file " + empty + " is empty"},
		{[]string{"-f", log, "-p", "x", "--slack-webhook-file", filepath.Join(dir, "nope")}, nil, "ErrorLog UNKNOWN: --slack-webhook-file: open "},
		{[]string{"-f", log, "-p", "x"}, []string{webhookEnv + "=hooks.example/T000SECRET"}, "ErrorLog UNKNOWN: the Slack webhook URL from $SLACK_WEBHOOK_URL is not an http(s) URL"},
		{[]string{"-f", log, "-p", "x", "--slack-webhook", "https://h/T000SECRET", "--slack-webhook-file", hook}, nil, "ErrorLog UNKNOWN: give --slack-webhook-file or --slack-webhook, not both"},
	} {
		r := testenv.Run(t, bin, c.env, append(c.args, state...)...)
		if r.Code != 3 || !strings.HasPrefix(r.Stdout, c.want) || strings.Contains(r.Stdout+r.Stderr, "SECRET") {
			t.Errorf("%v: exit %d\n%s%s\nwant exit 3 and %q", c.args, r.Code, r.Stdout, r.Stderr, c.want)
		}
		if strings.Count(r.Stdout, "\n") != 1 {
			t.Errorf("%v: %d lines:\n%s", c.args, strings.Count(r.Stdout, "\n"), r.Stdout)
		}
	}
}

// The built binary end to end, as mackerel-agent runs it: the webhook from
// the environment, an error found, posted, the exit code CRITICAL.
func TestBinary(t *testing.T) {
	bin := testenv.BuildBinary(t, "check-error-log")
	slack := newFakeSlack(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "php_error.log")
	appendFile(t, log, "")
	args := []string{"--file", log, "--pattern", "PHP (Fatal|Parse) error", "--state-dir", dir, "--host-name", "app-3"}
	env := []string{webhookEnv + "=" + slack.url()}
	if r := testenv.Run(t, bin, env, args...); r.Code != 0 || r.Stdout != "ErrorLog OK: no errors on app-3\n" {
		t.Fatalf("first run: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	appendFile(t, log, readTestdata(t, "php_error.log"))
	r := testenv.Run(t, bin, env, args...)
	if r.Code != 2 || !strings.HasPrefix(r.Stdout, "ErrorLog CRITICAL: 6 errors in 4 groups on app-3\n3× PHP Fatal error: Uncaught PDOException") {
		t.Errorf("exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if posts, _ := slack.got(); len(posts) != 1 || !strings.HasPrefix(posts[0], "[app-3] 6 errors in 4 groups") {
		t.Errorf("posts %q", posts)
	}
	if r := testenv.Run(t, bin, nil, "--version"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "check-error-log ") {
		t.Errorf("--version: %d %q", r.Code, r.Stdout)
	}
	if r := testenv.Run(t, bin, nil, "--help"); r.Code != 0 || !strings.Contains(r.Stdout, "--max-posts-per-hour") {
		t.Errorf("--help: %d %q", r.Code, r.Stdout)
	}
}

// --help says what the code does with a log it cannot read: --error-status
// (CRITICAL by default), as the README says, never UNKNOWN.
func TestHelpErrorStatus(t *testing.T) {
	bin := testenv.BuildBinary(t, "check-error-log")
	// Words as printed, whatever the wrapping.
	help := strings.Join(strings.Fields(testenv.Run(t, bin, nil, "--help").Stdout), " ")
	for _, want := range []string{"status when a log cannot be read", "--error-status a log cannot be read (CRITICAL unless"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	for _, wrong := range []string{"cannot be asked", "a log or the state that cannot be read"} {
		if strings.Contains(help, wrong) {
			t.Errorf("--help still says %q", wrong)
		}
	}
	dir := t.TempDir()
	missing := []string{"--file", filepath.Join(dir, "nope.log"), "--pattern", "x", "--state-dir", dir, "--host-name", "h"}
	if r := testenv.Run(t, bin, nil, missing...); r.Code != 2 || !strings.HasPrefix(r.Stdout, "ErrorLog CRITICAL: no errors on h; 1 log not read\n") {
		t.Errorf("missing log: exit %d %q", r.Code, r.Stdout)
	}
	if r := testenv.Run(t, bin, nil, append(missing, "--error-status", "unknown")...); r.Code != 3 || !strings.HasPrefix(r.Stdout, "ErrorLog UNKNOWN: ") {
		t.Errorf("missing log, --error-status unknown: exit %d %q", r.Code, r.Stdout)
	}
}

// The binary killed (SIGKILL, as mackerel-agent does 10 s after its timeout)
// while Slack holds its post unanswered: the post is on disk, and the next
// run delivers it once.
func TestKilledWhilePosting(t *testing.T) {
	bin := testenv.BuildBinary(t, "check-error-log")
	slack := newFakeSlack(t)
	slack.set(func(f *fakeSlack) { f.slowReject = time.Minute })
	dir := t.TempDir()
	log := filepath.Join(dir, "php_error.log")
	appendFile(t, log, "")
	args := []string{"--file", log, "--pattern", "PHP Fatal error", "--state-dir", dir, "--host-name", "app-3", "--timeout", "25s", "--slack-timeout", "20s"}
	env := []string{webhookEnv + "=" + slack.url()}
	testenv.Run(t, bin, env, args...)
	appendFile(t, log, "[01-Dec-2026 11:00:00 UTC] PHP Fatal error:  killed mid-post in /a.php:1\n")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, attempts := slack.got(); attempts > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the run never posted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	slack.set(func(f *fakeSlack) { f.slowReject = 0 })
	r := testenv.Run(t, bin, env, args...)
	posts, _ := slack.got()
	if r.Code != 0 || len(posts) != 1 || !strings.Contains(posts[0], "killed mid-post") {
		t.Errorf("exit %d %q; posts %q", r.Code, r.Stdout, posts)
	}
	testenv.Run(t, bin, env, args...)
	if posts, _ := slack.got(); len(posts) != 1 {
		t.Errorf("%d posts after another run", len(posts))
	}
}

// A FIFO as the webhook file or among the logs would block the check past
// mackerel-agent's timeout: it is refused at once, and a real log beside it
// is still read.
func TestSpecialFilesDoNotBlock(t *testing.T) {
	bin := testenv.BuildBinary(t, "check-error-log")
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "error.log")
	appendFile(t, log, "")
	state := []string{"--state-dir", dir, "--timeout", "5"}

	r := testenv.Run(t, bin, nil, append([]string{"-f", log, "-p", "Fatal", "--slack-webhook-file", fifo}, state...)...)
	if r.Code != 3 || !strings.Contains(r.Stdout, "--slack-webhook-file") || !strings.Contains(r.Stdout, "not a regular file") {
		t.Errorf("FIFO webhook file: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	args := append([]string{"-f", log, "-f", fifo, "-p", "Fatal"}, state...)
	testenv.Run(t, bin, nil, args...) // first run: starts at the logs' ends
	appendFile(t, log, "PHP Fatal error:  Uncaught Error: boom in /app/x.php:3\n")
	r = testenv.Run(t, bin, nil, args...)
	if !strings.Contains(r.Stdout, "1 error") || !strings.Contains(r.Stdout+r.Stderr, fifo) {
		t.Errorf("FIFO among the logs: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
