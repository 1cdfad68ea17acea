package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// ErrNotRegular is wrapped by OpenRegular's refusal of a special file.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path (a file named by a flag) for reading only when it is a regular file. A FIFO
// would otherwise block the open itself until a writer appears, past any
// deadline, and a device may never end: the file is opened without blocking
// and its type checked on the open descriptor (no race with a rename), and
// anything else is refused with a message naming what it is.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is %s, %w: refused, since reading it could wait forever", path, kind(st.Mode()), ErrNotRegular)
	}
	return f, st, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "a special file"
}

// ReadRegular reads a regular file of at most max bytes (see OpenRegular).
func ReadRegular(path string, max int64) ([]byte, error) {
	f, _, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAtMost(f, path, max)
}

// ReadAtMost reads all of r, refusing more than max bytes.
func ReadAtMost(r io.Reader, path string, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", path, max, ErrTooLarge)
	}
	return data, nil
}

// ErrTooLarge is wrapped by ReadAtMost's refusal of a large file.
var ErrTooLarge = errors.New("too large for this kind of file")

// maxSecretSize bounds a password file: a secret, not a document.
const maxSecretSize = 4096

// ReadSecretFile reads a password from the file named by flag: one line,
// its line ending removed. Errors name the flag and the path, never the
// content. Secrets come from such a file or from the environment, never from
// a flag's value, which ps and mackerel-agent.conf would show.
func ReadSecretFile(flag, path string) (string, error) {
	data, err := ReadRegular(path, maxSecretSize)
	if err != nil {
		return "", fmt.Errorf("%s: %v", flag, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s %s: the file is empty", flag, path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("%s %s: more than one line; the file holds the password alone", flag, path)
	}
	return s, nil
}
