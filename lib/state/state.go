// Package state keeps a binary's small JSON state between runs, written
// atomically so that a crash or a kill by mackerel-agent's timeout never
// leaves half a file. State lives in a directory only the running user can
// write ($MACKEREL_PLUGIN_WORKDIR, or a per-user directory under
// os.TempDir()); a directory anyone else could plant files in, and a symlink
// in place of a state, lock or journal file, are refused, never followed.
package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Dir is where state files live: $MACKEREL_PLUGIN_WORKDIR, which the packaged
// mackerel-agent systemd unit sets, or else "mackerel-plugins-<uid>" under
// os.TempDir() (never the shared temp directory itself, where any local user
// could plant a file or a symlink under a name we would use).
func Dir() string {
	if d := os.Getenv("MACKEREL_PLUGIN_WORKDIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "mackerel-plugins-"+strconv.Itoa(os.Getuid()))
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

// ErrUnsafe wraps a state directory or file that is refused because another
// local user could have planted or could change it.
var ErrUnsafe = errors.New("unsafe state location")

// EnsureDir creates dir (mode 0700, parents as needed) when it is missing,
// and checks that it is safe to keep state in: a real directory (not a
// symlink), owned by the running user, and not writable by group or others.
// The error names the directory and the fix.
func EnsureDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("state directory %s: %w", dir, err)
		}
	}
	return CheckDir(dir)
}

// CheckDir checks an existing state directory as EnsureDir does, without
// creating it. A missing directory gives an error satisfying
// errors.Is(err, os.ErrNotExist).
func CheckDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%w: state directory %s is a symlink; refusing to follow it (remove it, or point the setting at the real directory)", ErrUnsafe, dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: state directory %s is not a directory", ErrUnsafe, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%w: state directory %s is owned by uid %d, not by this user (uid %d); another user could plant files in it: remove it, or use a directory of your own", ErrUnsafe, dir, st.Uid, os.Getuid())
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: state directory %s has mode %04o, writable by other users who could plant files in it: run chmod 700 %s", ErrUnsafe, dir, perm, dir)
	}
	return nil
}

// OpenFile opens a file in a state directory (checked as by CheckDir, and
// created first when flag has O_CREATE) without following a symlink in place
// of the file itself.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	dir := filepath.Dir(path)
	check := CheckDir
	if flag&os.O_CREATE != 0 {
		check = EnsureDir
	}
	if err := check(dir); err != nil {
		return nil, err
	}
	// The directory is ours alone, so what Lstat sees is what we open;
	// O_NOFOLLOW still guards the open itself. A FIFO would block the open.
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			return nil, fmt.Errorf("%w: %s is a symlink; refusing to follow it (remove it)", ErrUnsafe, path)
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("%w: %s is not a regular file (remove it)", ErrUnsafe, path)
		}
	}
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW, perm)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %s is a symlink; refusing to follow it (remove it)", ErrUnsafe, path)
	}
	return f, err
}

// ReadFile reads a whole file of a state directory, as OpenFile opens it.
func ReadFile(path string) ([]byte, error) {
	f, err := OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Load reads path into v. A missing file (or directory) returns an error that
// satisfies errors.Is(err, os.ErrNotExist); undecodable content returns one
// that satisfies errors.Is(err, ErrCorrupt); an unsafe directory or a symlink
// one that satisfies errors.Is(err, ErrUnsafe). Either way v is left as it was.
func Load(path string, v any) error {
	b, err := ReadFile(path)
	if err != nil {
		if errors.Is(err, ErrUnsafe) {
			return err
		}
		return fmt.Errorf("read state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w %s: %v", ErrCorrupt, path, err)
	}
	return nil
}

// Save writes v to path atomically: a temporary file in the same directory,
// fsync, rename over path, fsync of the directory. The directory is created
// (0700) or checked as by EnsureDir; the file is 0600. A symlink at path is
// replaced, never followed.
func Save(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := EnsureDir(dir); err != nil {
		return err
	}
	// CreateTemp opens with O_EXCL (0600): it never follows a planted name.
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
	f, err := OpenFile(lp, os.O_CREATE|os.O_RDWR, 0o600)
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

// WriteLight writes b to path in place, without fsync and without a
// temporary file: for small data whose loss or tearing by a crash costs
// little (the reader must recognise a torn file). The file is not opened
// with O_TRUNC but cut to len(b) after the write: truncating to zero and
// writing again costs ext4 some 40 µs, a write over content of the same
// length a few. The directory is created or checked as by EnsureDir; a
// symlink at path is refused, never followed.
func WriteLight(path string, b []byte) error {
	f, err := OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
