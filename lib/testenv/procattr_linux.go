package testenv

import "syscall"

// dieWithParent asks the kernel to kill the child if the test process dies
// before its cleanups run.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
