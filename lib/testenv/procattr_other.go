//go:build !linux

package testenv

import "syscall"

// dieWithParent: only Linux has a parent-death signal; elsewhere the
// cleanups alone stop the child.
func dieWithParent(*syscall.SysProcAttr) {}
