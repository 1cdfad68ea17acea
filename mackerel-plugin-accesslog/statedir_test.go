package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// Without MACKEREL_PLUGIN_WORKDIR the state goes to a directory of this
// user's own under the temp dir (0700), and one planted there by another
// local user (a symlink to somewhere root writes, or a directory others can
// write) is refused with a line naming it, never followed.
func TestStateDirWithoutWorkdirCannotBePlanted(t *testing.T) {
	bin := testenv.BuildBinary(t, "mackerel-plugin-accesslog")
	tmp := t.TempDir()
	logPath := filepath.Join(tmp, "access.log")
	writeFile(t, logPath, ltsvLine(200, "0.100"))
	env := []string{"MACKEREL_PLUGIN_WORKDIR=", "TMPDIR=" + tmp}
	own := filepath.Join(tmp, "mackerel-plugins-"+strconv.Itoa(os.Getuid()))

	r := testenv.Run(t, bin, env, "--file", logPath)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if fi, err := os.Lstat(own); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir %s: %v %v, want a 0700 directory", own, fi.Mode(), err)
	}

	target := filepath.Join(tmp, "victim")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func() error{
		"symlink":        func() error { return os.Symlink(target, own) },
		"world-writable": func() error { return os.Mkdir(own, 0o777) },
	} {
		os.RemoveAll(own)
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		os.Chmod(own, 0o777) // Mkdir's mode is cut by the umask
		r := testenv.Run(t, bin, env, "--file", logPath)
		if r.Code == 0 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, own) {
			t.Errorf("%s planted: exit %d, stderr %q: want a failure naming %s", name, r.Code, r.Stderr, own)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 0 {
			t.Errorf("%s planted: the plugin wrote through it: %v", name, entries)
		}
	}
}
