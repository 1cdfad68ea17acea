//go:build !amd64

package main

import "unsafe"

// tabBits64 returns a bit per byte of p[0:64] (bit i for p[i]), set where
// the byte is a tab. The caller makes sure that 64 bytes are there.
func tabBits64(p *byte) uint64 { return tabBitsWords(unsafe.Slice(p, 64)) }
