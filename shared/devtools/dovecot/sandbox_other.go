//go:build !linux

package dovecot

import (
	"errors"
	"os"
	"syscall"
)

// canSandbox fails: Debian's Dovecot runs in a Linux mount namespace.
func canSandbox() error {
	return errors.New("a real Dovecot needs Linux (Debian's dovecot-imapd in a mount namespace)")
}

func namespaced() *syscall.SysProcAttr { return nil }

func sandbox(spec) { os.Exit(1) }
