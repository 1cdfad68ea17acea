//go:build !linux

package main

import "syscall"

// dieWithParent: only Linux has a parent-death signal.
func dieWithParent(*syscall.SysProcAttr) {}
