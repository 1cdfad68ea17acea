package main

import "encoding/binary"

// The LTSV parser finds the tabs of a line 64 bytes at a time as a bitmap:
// tabBits64 (SSE2 on amd64, tabBitsWords elsewhere) for whole blocks,
// tabBits for a line shorter than a block.

// tabBitsWords is tabBits64 eight bytes at a time, for any CPU.
func tabBitsWords(b []byte) uint64 {
	var m uint64
	for i := 0; i < 8; i++ {
		x := binary.LittleEndian.Uint64(b[8*i:]) ^ swarTabs // a tab becomes 0
		m |= gatherHighBits(zeroBytes(x)) << (8 * i)
	}
	return m
}

const (
	swarLows  = 0x7f7f7f7f7f7f7f7f
	swarHighs = 0x8080808080808080
	swarTabs  = '\t' * 0x0101010101010101
)

// zeroBytes sets the high bit of each byte of x that is zero, exactly: no
// carry crosses a byte.
func zeroBytes(x uint64) uint64 { return ^(((x & swarLows) + swarLows) | x) & swarHighs }

// gatherHighBits moves the high bits of the eight bytes of h (h has no other
// bits) into its low byte, byte i's to bit i.
func gatherHighBits(h uint64) uint64 { return (h >> 7) * 0x0102040810204080 >> 56 }

// tabBits is tabBits64 for b of at most 64 bytes, one byte at a time.
func tabBits(b []byte) uint64 {
	var m uint64
	for i, c := range b[:min(len(b), 64)] {
		if c == '\t' {
			m |= 1 << i
		}
	}
	return m
}
