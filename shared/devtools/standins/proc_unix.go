//go:build unix && !linux

package standins

import "syscall"

// sysProcAttr puts a stand-in in its own process group, so Stop can kill it
// with any children. Only Linux can also tie its life to ours.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
