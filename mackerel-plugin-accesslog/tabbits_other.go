//go:build !amd64

package main

import (
	"encoding/binary"
	"unsafe"
)

// tabBits64 returns a bit per byte of p[0:64], set where the byte is a tab
// (bit i for p[i]). The caller makes sure that 64 bytes are there. This is
// the portable version, eight bytes at a time; amd64 has it in SSE2.
func tabBits64(p *byte) uint64 {
	b := unsafe.Slice(p, 64)
	var m uint64
	for i := 0; i < 8; i++ {
		x := binary.LittleEndian.Uint64(b[8*i:]) ^ swarTabs // a tab becomes 0
		hi := ^(((x & swarLows) + swarLows) | x) & swarHighs
		// Gather the eight high bits (bytes 0..7) into the low byte.
		m |= ((hi >> 7) * 0x0102040810204080 >> 56) << (8 * i)
	}
	return m
}

const (
	swarLows  = 0x7f7f7f7f7f7f7f7f
	swarHighs = 0x8080808080808080
	swarTabs  = '\t' * 0x0101010101010101
)
