package tail

import (
	"os"
	"syscall"
)

// birthTimeOf returns an open file's birth time in ns (stat's st_birthtime);
// 0 when unknown.
func birthTimeOf(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return birthOf(fi)
}

// birthTime is birthTimeOf for a path, without following a symlink.
func birthTime(path string) int64 {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0
	}
	return birthOf(fi)
}

func birthOf(fi os.FileInfo) int64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return st.Birthtimespec.Sec*1e9 + st.Birthtimespec.Nsec
}
