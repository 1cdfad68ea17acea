// Package testenv is what the suite's tests share to run real components:
// finding server binaries (skip on a developer's machine, fail under CI=true),
// free loopback ports, processes stopped by PID, and the suite's own binaries
// and the pinned tools (mackerel-agent, mkr) built once per test binary.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI=true, where a missing server is
// a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips the test on a developer's machine and fails it under CI=true.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI=true, so this cannot be skipped: %s", msg)
	}
	t.Skip(msg)
}

// RequireCommand returns the path of an executable (looked up in PATH and in
// /usr/sbin, /usr/bin, where Debian puts server binaries), or skips (fails in CI).
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Skip(t, "%s is not installed (make test installs it when run as root)", name)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a server started by a test.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd in its own process group and registers a cleanup that
// stops it by PID (SIGTERM, then SIGKILL after 5 s) and waits for it.
// Output goes to the files the caller set on cmd, or to the test log dir.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	dieWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Stop() })
	return p
}

// Stop ends the process (and its group) by PID and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	pid := p.Cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
		<-p.done
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// WaitTCP waits until addr accepts a TCP connection.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections within %v: %v", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RepoRoot is the repository's top directory (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

func outDir(t testing.TB) string {
	if buildDir == "" {
		d, err := os.MkdirTemp("", "suite-testbin-")
		if err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		buildDir = d
	}
	return buildDir
}

// Main is a package's TestMain for tests that build binaries: it runs the
// tests, removes what BuildBinary and Tool built, and exits.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup removes the binaries built by this test binary. Call it from
// TestMain after m.Run() in packages that build binaries.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
		built = map[string]string{}
	}
}

// BuildBinary builds one of the suite's binaries (a folder relative to the
// repository root, e.g. "mackerel-plugin-accesslog") once per test binary
// and returns its path.
func BuildBinary(t testing.TB, dir string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[dir]; ok {
		return p
	}
	out := filepath.Join(outDir(t), filepath.Base(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./"+dir)
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", dir, err, b)
	}
	built[dir] = out
	return out
}

// Tool returns the path of a tool pinned in tools/go.mod: "mackerel-agent",
// "mkr" or "staticcheck". It uses bin/tools/NAME when `make tools` has built
// it, and otherwise builds it from the module proxy into a temporary folder.
func Tool(t testing.TB, name string) string {
	t.Helper()
	pre := filepath.Join(RepoRoot(), "bin", "tools", name)
	if st, err := os.Stat(pre); err == nil && st.Mode()&0o111 != 0 {
		return pre
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	key := "tool:" + name
	if p, ok := built[key]; ok {
		return p
	}
	out := filepath.Join(outDir(t), name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pkg := map[string]string{
		"mackerel-agent": "github.com/mackerelio/mackerel-agent",
		"mkr":            "github.com/mackerelio/mkr",
		"staticcheck":    "honnef.co/go/tools/cmd/staticcheck",
	}[name]
	if pkg == "" {
		t.Fatalf("unknown tool %q", name)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Join(RepoRoot(), "tools")
	if b, err := cmd.CombinedOutput(); err != nil {
		Skip(t, "cannot build %s from tools/go.mod: %v\n%s", name, err, b)
	}
	built[key] = out
	return out
}
