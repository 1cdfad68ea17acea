package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type sample struct {
	Offset int64  `json:"offset"`
	Name   string `json:"name"`
}

func TestDirFallsBackToTempDir(t *testing.T) {
	t.Setenv("MACKEREL_PLUGIN_WORKDIR", "")
	if Dir() != os.TempDir() {
		t.Fatalf("Dir() = %s", Dir())
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
