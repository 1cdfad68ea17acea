package journal

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

func TestJournalRoundTripAndRunningCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.json")
	j := New(path, "dave", "deploy.toml", []string{"10.0.0.1:80", "10.0.0.2:80"})
	if err := j.Set("10.0.0.1:80", StepDeploying); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := j.SetCommand("10.0.0.1:80", cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || got == nil {
		t.Fatalf("load: %v", err)
	}
	if got.Progress["10.0.0.1:80"] != StepDeploying || got.Progress["10.0.0.2:80"] != StepPending || got.Holder != "dave" {
		t.Errorf("loaded %+v", got)
	}
	if r := got.Running(); len(r) != 1 {
		t.Errorf("running %v, want the sleep", r)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if r := got.Running(); len(r) != 0 {
		t.Errorf("running %v after it ended", r)
	}
	if err := j.Finish(); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(path); got != nil || err != nil {
		t.Errorf("after Finish: %v %v", got, err)
	}
}
