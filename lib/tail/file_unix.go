//go:build unix

package tail

import (
	"os"
	"syscall"
)

// openFlags open a log without blocking: opening a FIFO for reading would
// otherwise wait for a writer, holding the run (and its state lock) until
// mackerel-agent kills it. Reads of regular files ignore O_NONBLOCK.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK

func identity(fi os.FileInfo) (dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Dev), uint64(st.Ino)
}
