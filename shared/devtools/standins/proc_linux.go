package standins

import "syscall"

// sysProcAttr puts a stand-in in its own process group, so Stop can kill it
// with any children, and has the kernel kill it if the Go process dies first
// (a test binary killed by -timeout must not leave servers behind).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
