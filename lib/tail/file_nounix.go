//go:build !unix

package tail

import "os"

const openFlags = os.O_RDONLY

// identity is unknown without a unix stat, so every run is a first run:
// only unix platforms are supported (the suite ships Linux and macOS).
func identity(os.FileInfo) (dev, ino uint64) { return 0, 0 }
