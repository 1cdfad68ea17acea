package balancertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// ModuleTarball is the real ngx_dynamic_upstream's source, relative to the
// folder shared/ beside the repository.
const ModuleTarball = "third_party/ngx_dynamic_upstream-7220bd4.tar.gz"

// moduleFile is what nginx's build calls the dynamic module.
const moduleFile = "ngx_dynamic_upstream_module.so"

// Debian's nginx-dev: nginx's source configured as Debian built it.
const nginxDevSrc = "/usr/share/nginx/src"

var (
	moduleMu   sync.Mutex
	modulePath string
)

// DynamicUpstreamModule returns the path of ngx_dynamic_upstream_module.so
// built from ../shared/third_party against Debian's nginx-dev, for Debian's
// /usr/sbin/nginx. The build (about 10 s) is cached under the repository's
// bin/, keyed by the tarball's hash and nginx's version, so a `make test`
// run builds it once: each build goes into a temp dir and is renamed into
// place under a lock file, so test binaries running in parallel neither
// race nor load a half-written file. Missing build dependencies skip the
// test (fail it under CI=true); a failed build always fails it.
func DynamicUpstreamModule(t testing.TB) string {
	t.Helper()
	moduleMu.Lock()
	defer moduleMu.Unlock()
	if modulePath != "" {
		return modulePath
	}
	nginx := testenv.RequireCommand(t, "nginx")
	for _, need := range []string{filepath.Join(nginxDevSrc, "conf_flags"), filepath.Join(nginxDevSrc, "configure")} {
		if _, err := os.Stat(need); err != nil {
			testenv.Skip(t, "%s is missing: the Debian package nginx-dev builds the real module (scripts/install-deps)", need)
		}
	}
	for _, cmd := range []string{"cc", "make", "tar", "bash"} {
		if _, err := exec.LookPath(cmd); err != nil {
			testenv.Skip(t, "%s is not installed: building the real ngx_dynamic_upstream module needs it (scripts/install-deps)", cmd)
		}
	}
	tarball := filepath.Join(testenv.RepoRoot(), "..", "shared", ModuleTarball)
	sum, err := fileSHA256(tarball)
	if err != nil {
		testenv.Skip(t, "the module's source: %v (CI places shared/ beside the repository)", err)
	}
	version, err := nginxVersion(nginx)
	if err != nil {
		t.Fatal(err)
	}
	if dev, err := nginxDevVersion(); err != nil || dev != version {
		t.Fatalf("nginx-dev's source is nginx %q (%v) but %s is %s: a module built from it would not load; install matching packages", dev, err, nginx, version)
	}
	cacheDir := filepath.Join(testenv.RepoRoot(), "bin", "ngx_dynamic_upstream")
	p, err := cachedModule(cacheDir, tarball, sum, version)
	if err != nil {
		t.Fatal(err)
	}
	modulePath = p
	return p
}

// builds counts buildModule calls, for the test of the cache.
var builds atomic.Int64

// cachedModule returns the module in cacheDir for this tarball and nginx
// version, building it first under the cache's lock file when it is not
// there yet.
func cachedModule(cacheDir, tarball, sum, version string) (string, error) {
	dest := filepath.Join(cacheDir, fmt.Sprintf("%s-nginx-%s", sum[:16], version), moduleFile)
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(cacheDir, "build.lock"), 10*time.Minute)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	builds.Add(1)
	if err := buildModule(tarball, cacheDir, dest); err != nil {
		return "", fmt.Errorf("building ngx_dynamic_upstream from %s against nginx-dev %s: %v", ModuleTarball, version, err)
	}
	return dest, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var versionRE = regexp.MustCompile(`nginx/(\d+\.\d+\.\d+)`)

// nginxVersion asks the binary (`nginx -v` prints "nginx version: nginx/1.22.1" on stderr).
func nginxVersion(bin string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	m := versionRE.FindSubmatch(out)
	if err != nil || m == nil {
		return "", fmt.Errorf("%s -v: %v: %q", bin, err, out)
	}
	return string(m[1]), nil
}

var devVersionRE = regexp.MustCompile(`#define NGINX_VERSION\s+"([^"]+)"`)

func nginxDevVersion() (string, error) {
	b, err := os.ReadFile(filepath.Join(nginxDevSrc, "src", "core", "nginx.h"))
	if err != nil {
		return "", err
	}
	m := devVersionRE.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("no NGINX_VERSION in nginx.h")
	}
	return string(m[1]), nil
}

// lockFile takes an exclusive flock on path, waiting at most timeout.
func lockFile(path string, timeout time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %v (another test binary builds the module; waited %v)", path, err, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// buildModule builds the module as FACTS.md describes: Debian's nginx
// source configured with Debian's own flags (conf_flags) plus -fPIC, the
// module added as a dynamic module, `make modules`. Everything happens in a
// temp dir inside cacheDir; only the finished .so is renamed to dest.
func buildModule(tarball, cacheDir, dest string) error {
	work, err := os.MkdirTemp(cacheDir, "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	src := filepath.Join(work, "nginx")
	log := filepath.Join(work, "build.log")
	script := `set -e
cp -a "$NGINX_DEV" "$SRC"
mkdir "$WORK/module"
tar xzf "$TARBALL" -C "$WORK/module" --strip-components=1
cd "$SRC"
source ./conf_flags
./configure "${NGX_CONF_FLAGS[@]}" --with-cc-opt='-g -O2 -fPIC' --with-ld-opt='-fPIC' --add-dynamic-module="$WORK/module"
make -f objs/Makefile modules
`
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "NGINX_DEV="+nginxDevSrc, "SRC="+src, "WORK="+work, "TARBALL="+tarball)
	out, err := os.Create(log)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	out.Close()
	if runErr != nil {
		return fmt.Errorf("%v; the last lines of the build:\n%s", runErr, lastLines(readFile(log), 30))
	}
	built := filepath.Join(src, "objs", moduleFile)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	staged := filepath.Join(filepath.Dir(dest), "."+moduleFile+".tmp")
	if err := copyFile(built, staged); err != nil {
		return err
	}
	return os.Rename(staged, dest)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
