package tail

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// sh runs a command with a deadline and returns its trimmed output.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// attach puts img on a free loop device and returns it with a detach that
// runs once (a device detached twice may by then be another test's).
func attach(t *testing.T, img string) (string, func()) {
	dev := sh(t, "losetup", "--find", "--show", img)
	done := false
	detach := func() {
		if !done {
			done = true
			sh(t, "losetup", "-d", dev)
		}
	}
	t.Cleanup(func() {
		if !done {
			done = true
			exec.Command("losetup", "-d", dev).Run()
		}
	})
	return dev, detach
}

func devOf(t *testing.T, path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Dev)
}

// The same ext4 file system unmounted and mounted again from another loop
// device: the device number changes, inodes and birth times do not. The log
// must be resumed, not read again, and no line reported lost.
func TestRemountOnAnotherDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "a real remount needs root (loop devices, mount)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		testenv.Skip(t, "no loop devices here: %v", err)
	}
	testenv.RequireCommand(t, "losetup")
	testenv.RequireCommand(t, "mkfs.ext4")
	dir := t.TempDir()
	img, spare, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "spare.img"), filepath.Join(dir, "mnt")
	for _, f := range []string{img, spare} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, 16<<20); err != nil {
			t.Fatal(err)
		}
	}
	sh(t, "mkfs.ext4", "-q", "-F", img)
	os.Mkdir(mnt, 0o755)
	mounted := false
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
		}
	})
	mount := func(dev string) {
		sh(t, "mount", dev, mnt)
		mounted = true
	}
	unmount := func(detach func()) {
		sh(t, "umount", mnt)
		mounted = false
		detach()
	}

	first, detachFirst := attach(t, img)
	mount(first)
	p := filepath.Join(mnt, "access.log")
	r := &reader{t: t, path: p, opt: Options{FromStart: true}}
	appendTo(t, p, numbered(0, 1100))
	want(t, r.run(), 0, 1100)
	devBefore := devOf(t, p)
	unmount(detachFirst)

	// The spare image takes the device just freed, so the file system
	// comes back on another one.
	attach(t, spare)
	second, detachSecond := attach(t, img)
	mount(second)
	if devOf(t, p) == devBefore {
		t.Fatalf("the file system came back on the same device %d (%s, then %s)", devBefore, first, second)
	}
	appendTo(t, p, numbered(1100, 1110))
	want(t, r.run(), 1100, 1110)
	if len(r.notes) != 0 {
		t.Fatalf("notes: %q", r.notes)
	}
	unmount(detachSecond)
}
