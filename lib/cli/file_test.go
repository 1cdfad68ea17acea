package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadRegularRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{fifo: "a named pipe (FIFO)", "/dev/zero": "a character device", dir: "a directory"} {
		done := make(chan error, 1)
		go func() { _, err := ReadRegular(path, 1<<20); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %v", path, err)
			}
		case <-time.After(time.Minute): // a hang is the bug; the bound is generous
			t.Fatalf("%s: ReadRegular still blocked after a minute", path)
		}
	}
	// Through a symlink, the target's type counts.
	link := filepath.Join(dir, "link")
	os.Symlink(fifo, link)
	if _, err := ReadRegular(link, 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("symlink to a FIFO: %v", err)
	}
}

func TestReadRegular(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("hello"), 0o600)
	if b, err := ReadRegular(path, 5); err != nil || string(b) != "hello" {
		t.Errorf("%q %v", b, err)
	}
	if _, err := ReadRegular(path, 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("5 bytes with max 4: %v", err)
	}
	if _, err := ReadRegular(path+".missing", 4); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	if s, err := ReadSecretFile("--pw-file", write("ok", "s3cret pw\n")); err != nil || s != "s3cret pw" {
		t.Errorf("%q %v", s, err)
	}
	if s, err := ReadSecretFile("--pw-file", write("crlf", "s3cret\r\n")); err != nil || s != "s3cret" {
		t.Errorf("%q %v", s, err)
	}
	for name, body := range map[string]string{"empty": "", "newline": "\n", "two": "a\nb\n", "big": strings.Repeat("x", 5000)} {
		_, err := ReadSecretFile("--pw-file", write(name, body))
		if err == nil || !strings.HasPrefix(err.Error(), "--pw-file") || (len(body) > 1 && strings.Contains(err.Error(), body[:1]+"\n")) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
