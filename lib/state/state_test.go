package state

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type sample struct {
	Offset int64  `json:"offset"`
	Name   string `json:"name"`
}

func TestDirFallsBackToAPerUserDirUnderTempDir(t *testing.T) {
	t.Setenv("MACKEREL_PLUGIN_WORKDIR", "")
	want := filepath.Join(os.TempDir(), "mackerel-plugins-"+strconv.Itoa(os.Getuid()))
	if Dir() != want {
		t.Fatalf("Dir() = %s, want %s", Dir(), want)
	}
	d := t.TempDir()
	t.Setenv("MACKEREL_PLUGIN_WORKDIR", d)
	if Dir() != d {
		t.Fatalf("Dir() = %s, want %s", Dir(), d)
	}
}

func TestPathDependsOnEveryKeyPart(t *testing.T) {
	t.Setenv("MACKEREL_PLUGIN_WORKDIR", "/x")
	a, b, c := Path("p", "a", "bc"), Path("p", "ab", "c"), Path("p", "a", "bc")
	if a == b || a != c {
		t.Fatalf("%s %s %s", a, b, c)
	}
	if !strings.HasPrefix(a, "/x/p-") || !strings.HasSuffix(a, ".json") {
		t.Fatal(a)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "s.json")
	if err := Save(p, sample{Offset: 42, Name: "x"}); err != nil {
		t.Fatal(err)
	}
	var got sample
	if err := Load(p, &got); err != nil || got.Offset != 42 || got.Name != "x" {
		t.Fatalf("%+v %v", got, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
}

func TestLoadMissingAndCorrupt(t *testing.T) {
	d := t.TempDir()
	var s sample
	if err := Load(filepath.Join(d, "none.json"), &s); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	p := filepath.Join(d, "bad.json")
	os.WriteFile(p, []byte("{\"offset\": 1"), 0o644)
	s.Offset = 7
	err := Load(p, &s)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Fatalf("corrupt: %v", err)
	}
	if s.Offset != 7 {
		t.Fatal("v changed on a corrupt file")
	}
}

func TestLockIsExclusive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	unlock, err := Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(p); err == nil || !strings.Contains(err.Error(), "another run") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := Lock(p)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

func TestSaveCreatesPrivateDirAndFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b", "s.json")
	if err := Save(p, sample{Offset: 1}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{filepath.Dir(p): 0o700, p: 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: mode %v (%v), want %04o", path, fi.Mode().Perm(), err, want)
		}
	}
}

func TestWorldWritableDirIsRefused(t *testing.T) {
	d := filepath.Join(t.TempDir(), "shared")
	os.Mkdir(d, 0o700)
	os.Chmod(d, 0o777)
	p := filepath.Join(d, "s.json")
	err := Save(p, sample{Offset: 1})
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), d) || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("Save in a 0777 dir: %v", err)
	}
	if _, serr := os.Stat(p); serr == nil {
		t.Fatal("Save wrote into a 0777 dir")
	}
	var s sample
	if err := Load(p, &s); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Load from a 0777 dir: %v", err)
	}
	if _, err := Lock(p); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Lock in a 0777 dir: %v", err)
	}
	// Control: the same dir made private is accepted.
	os.Chmod(d, 0o700)
	if err := Save(p, sample{Offset: 1}); err != nil {
		t.Fatalf("after chmod 700: %v", err)
	}
}

func TestSymlinkedDirIsRefused(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o700)
	link := filepath.Join(base, "link")
	os.Symlink(real, link)
	err := Save(filepath.Join(link, "s.json"), sample{})
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Save through a symlinked dir: %v", err)
	}
	if ents, _ := os.ReadDir(real); len(ents) != 0 {
		t.Fatalf("wrote through the symlink: %v", ents)
	}
}

// A planted symlink in place of the state or lock file must never be
// followed: root following it would read or truncate any file on the host.
func TestPlantedSymlinkIsNeverFollowed(t *testing.T) {
	d := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte(`{"offset": 99}`), 0o600)
	p := filepath.Join(d, "s.json")
	os.Symlink(victim, p)
	os.Symlink(victim, p+".lock")

	var s sample
	if err := Load(p, &s); !errors.Is(err, ErrUnsafe) || s.Offset != 0 {
		t.Fatalf("Load through a symlink: %+v %v", s, err)
	}
	if _, err := Lock(p); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), p+".lock") {
		t.Fatalf("Lock through a symlink: %v", err)
	}
	if _, err := ReadFile(p); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("ReadFile through a symlink: %v", err)
	}
	// Save replaces the link itself; the victim keeps its content.
	if err := Save(p, sample{Offset: 1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != `{"offset": 99}` {
		t.Fatalf("victim changed: %s", b)
	}
	if fi, _ := os.Lstat(p); fi.Mode()&os.ModeSymlink != 0 {
		t.Fatal("state file is still a symlink")
	}
}

func TestDirOwnedByAnotherUserIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		// Not lib/testenv: it does not build for darwin, and this package must.
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true, so this cannot be skipped: needs root to give a directory to another user")
		}
		t.Skip("needs root to give a directory to another user")
	}
	d := filepath.Join(t.TempDir(), "theirs")
	os.Mkdir(d, 0o700)
	const nobody = 65534
	if err := os.Chown(d, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	err := Save(filepath.Join(d, "s.json"), sample{})
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "owned by uid 65534") || !strings.Contains(err.Error(), d) {
		t.Fatalf("Save in another user's dir: %v", err)
	}
	if fi, _ := os.Stat(d); fi.Sys().(*syscall.Stat_t).Uid != nobody {
		t.Fatal("ownership changed")
	}
}

func TestFifoInPlaceOfStateIsRefused(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "s.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_NONBLOCK is not used: a FIFO would block the open forever, so
	// the refusal must come from the check before reading.
	done := make(chan error, 1)
	go func() {
		var s sample
		done <- Load(p, &s)
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Load of a FIFO succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Load of a FIFO blocked")
	}
}

// WriteLight replaces the content in place, and never writes through a
// symlink planted at its path.
func TestWriteLight(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "s.clock")
	if err := WriteLight(p, []byte("a longer first content\n")); err != nil {
		t.Fatal(err)
	}
	if err := WriteLight(p, []byte("short\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "short\n" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	q := filepath.Join(d, "t.clock")
	os.Symlink(victim, q)
	if err := WriteLight(q, []byte("x")); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("WriteLight through a symlink: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim changed: %q", b)
	}
}
