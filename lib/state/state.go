// Package state keeps a plugin's small JSON state between runs, in
// $MACKEREL_PLUGIN_WORKDIR (os.TempDir() when unset), written atomically so
// that a crash or a kill by mackerel-agent's timeout never leaves half a file.
package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Dir is where state files live: $MACKEREL_PLUGIN_WORKDIR, which the packaged
// mackerel-agent systemd unit sets, or os.TempDir().
func Dir() string {
	if d := os.Getenv("MACKEREL_PLUGIN_WORKDIR"); d != "" {
		return d
	}
	return os.TempDir()
}

// Path names the state file of one binary for one set of key parts (for
// example a log file's path and a metric prefix): "<binary>-<hash>.json" in Dir.
// The hash keeps names short and free of path separators.
func Path(binary string, keyParts ...string) string {
	return PathIn(Dir(), binary, keyParts...)
}

// PathIn is Path in another directory (a --state-dir flag).
func PathIn(dir, binary string, keyParts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(keyParts, "\x00")))
	return filepath.Join(dir, binary+"-"+hex.EncodeToString(h[:8])+".json")
}

// ErrCorrupt wraps a state file that exists but cannot be decoded.
var ErrCorrupt = errors.New("corrupt state file")

// Load reads path into v. A missing file returns an error that satisfies
// errors.Is(err, os.ErrNotExist); undecodable content returns one that
// satisfies errors.Is(err, ErrCorrupt). Either way v is left as it was.
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w %s: %v", ErrCorrupt, path, err)
	}
	return nil
}

// Save writes v to path atomically: a temporary file in the same directory,
// fsync, rename over path, fsync of the directory.
func Save(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	tmp := f.Name()
	cleanup := func(e error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write state %s: %w", path, e)
	}
	if _, err := f.Write(b); err != nil {
		return cleanup(err)
	}
	if err := f.Sync(); err != nil {
		return cleanup(err)
	}
	if err := f.Close(); err != nil {
		return cleanup(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Lock takes an exclusive lock on path+".lock" so that two overlapping runs
// (an agent whose previous run has not ended) never read and advance the same
// state. It fails at once, naming the file, when another process holds it.
func Lock(path string) (unlock func(), err error) {
	lp := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	f, err := os.OpenFile(lp, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: another run holds it", lp)
		}
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
