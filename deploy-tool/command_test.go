package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// Issue 19 fix 8: the deploy command gets the server as DEPLOY_HOST,
// DEPLOY_ADDR and DEPLOY_PORT, and {addr} written in it is one word that
// the shell does not glob (a file named 1:52001 matches [::1]:52001).
func TestCommandPlaceholdersAreQuotedAndInTheEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "1:52001"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := "cd '" + dir + "' && printf '%s\\n' {addr} {host} {port} \"$DEPLOY_ADDR\" \"$DEPLOY_HOST\" \"$DEPLOY_PORT\" > out"
	s := config.Server{Addr: "[::1]:52001", Host: "::1", Port: 52001}
	if err := RunCommand(t.Context(), cmd, s, 10*time.Second, report.NewProgress(io.Discard), nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "[::1]:52001\n::1\n52001\n[::1]:52001\n::1\n52001\n"
	if string(got) != want {
		t.Errorf("the command received %q, want %q", got, want)
	}
	if strings.Contains(string(got), "\n1:52001") || strings.HasPrefix(string(got), "1:52001") {
		t.Error("{addr} was globbed")
	}
}
