//go:build unix

package rie

import (
	"os/exec"
	"syscall"
)

// setGroup starts cmd in its own process group, so that killGroup ends the
// emulator and the function it started together.
func setGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
