package main

import "syscall"

// dieWithParent asks the kernel to kill nginx if the demo dies first.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
