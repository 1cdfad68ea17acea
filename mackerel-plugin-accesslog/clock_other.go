//go:build !linux

package main

// readClock knows no boot clock here: intervals come from the wall clock.
func readClock() runClock { return runClock{} }
