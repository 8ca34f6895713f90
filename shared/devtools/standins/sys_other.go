//go:build !unix

package standins

import (
	"context"
	"errors"
	"os"
	"syscall"
)

var errUnsupported = errors.New("the stand-ins run on Linux and macOS only")

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { _ = p.Kill() }

func lockFile(context.Context, string) (func(), error) { return nil, errUnsupported }

func signalGroup(*os.Process, syscall.Signal) error { return errUnsupported }

const (
	stopSignal     = syscall.Signal(0)
	continueSignal = syscall.Signal(0)
)
