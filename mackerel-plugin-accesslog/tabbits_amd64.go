package main

// tabBits64 returns a bit per byte of p[0:64], set where the byte is a tab
// (bit i for p[i]). The caller makes sure that 64 bytes are there.
//
//go:noescape
func tabBits64(p *byte) uint64
