package coord

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// Lock is the deploy host's lock: one rollout (or manual down/up) at a time.
// It is an flock on a file that also names its holder, so that the kernel
// releases it when the holder dies and a refused run can say who holds it.
type Lock struct {
	f *os.File
}

// ErrLocked is returned (wrapped, with the holder) when another run holds the lock.
var ErrLocked = errors.New("another deploy-tool run holds the lock")

// Describe describes this process for the lock file: who, where, since when, what.
func Describe(what string) string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d since %s: %s", name, host, os.Getpid(), time.Now().UTC().Format(time.RFC3339), what)
}

// AcquireLock takes the lock at path without waiting, or returns an error
// wrapping ErrLocked that names the holder.
func AcquireLock(path, holder string) (*Lock, error) {
	// The state dir is created 0700 or refused when another user could
	// write it; a symlink in place of the lock is refused, never followed.
	f, err := state.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// A holder-less refusal is a reader (status, check) peeking for a
	// moment: try again a few times before giving up.
	for try := 0; ; try++ {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if who := LockHolder(path); who != "" || try == 10 {
			f.Close()
			if who == "" {
				who = "a process that wrote no holder line"
			}
			return nil, fmt.Errorf("%w (%s): held by %s", ErrLocked, path, who)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(holder+"\n"), 0)
		f.Sync()
	}
	return &Lock{f: f}, nil
}

// Release empties the holder line and releases the lock.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// LockHolder reads the holder line of a lock file ("" when none).
func LockHolder(path string) string {
	b, err := state.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Locked reports whether a live process holds the lock at path, and who.
func Locked(path string) (bool, string) {
	f, err := state.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return false, ""
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true, LockHolder(path)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, ""
}
