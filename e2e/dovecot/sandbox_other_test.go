//go:build !linux

package dovecot

import (
	"errors"
	"os"
	"syscall"
)

// canSandbox fails: the tests run Debian's Dovecot in a Linux mount
// namespace.
func canSandbox() error {
	return errors.New("the Dovecot tests need Linux (Debian's dovecot-imapd in a mount namespace)")
}

func namespaced() *syscall.SysProcAttr { return nil }

func sandbox(string) { os.Exit(1) }
