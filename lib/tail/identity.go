package tail

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
)

// openRegular opens path without blocking and checks that it is a regular
// file.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kindOf(fi.Mode()))
	}
	return f, fi, nil
}

func kindOf(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "type " + m.Type().String()
}

// FileID returns the device and inode of a file, as Position keeps them
// (0, 0 where the platform has no inodes).
func FileID(fi os.FileInfo) (dev, ino uint64) { return identity(fi) }

// hash is the fingerprint of b.
func hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fingerprint hashes the first n bytes of f; ok is false when f has fewer.
func fingerprint(f *os.File, n int64) (string, bool) {
	if n <= 0 {
		return "", true
	}
	return fingerprintAt(f, 0, n)
}

// fingerprintAt hashes the n bytes of f at off; ok is false when f has fewer.
func fingerprintAt(f *os.File, off, n int64) (string, bool) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return "", false
	}
	return hash(buf), true
}

// sameContent reports whether f still holds the bytes p fingerprinted: its
// first bytes and those just before p.Offset.
func sameContent(f *os.File, p Position) bool {
	if p.FPLen > 0 {
		if fp, ok := fingerprint(f, p.FPLen); !ok || fp != p.Fingerprint {
			return false
		}
	}
	if p.TailLen > 0 {
		if fp, ok := fingerprintAt(f, p.Offset-p.TailLen, p.TailLen); !ok || fp != p.TailFingerprint {
			return false
		}
	}
	return true
}

// is reports whether p describes the file with this device, inode and birth
// time (a zero birth time, unknown, matches any). Where both birth times are
// known they decide, whatever the device: the same file system mounted again
// from another device keeps inodes and birth times but not the device number.
func (p Position) is(dev, ino uint64, born int64) bool {
	if p.Inode != ino {
		return false
	}
	if p.Born != 0 && born != 0 {
		return p.Born == born
	}
	return p.Dev == dev
}

// remounted reports whether f, on another device than p says but with its
// inode, is p's file on a file system without birth times that was mounted
// again: it must hold every byte p fingerprinted.
func remounted(f *os.File, p Position, dev, ino uint64, born int64, size int64) bool {
	return p.Dev != dev && p.Inode == ino && (p.Born == 0 || born == 0) &&
		p.FPLen > 0 && size >= p.Offset && sameContent(f, p)
}
