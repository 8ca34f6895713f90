package dovecot

import (
	"fmt"
	"os"
	"syscall"
)

func canSandbox() error { return nil }

// namespaced starts a process in a private mount namespace: Go makes its
// mounts private, so nothing mounted in it is seen outside, and it ends
// with the process that started it.
func namespaced() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGTERM}
}

// sandbox runs in the new mount namespace: it mounts the caller's folders
// at the install locations, then becomes Dovecot.
func sandbox(sp spec) {
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "sandbox: "+format+"\n", args...)
		os.Exit(1)
	}
	if sp.BinDir != "" {
		if err := syscall.Mount(sp.BinDir, "/usr/local/bin", "", syscall.MS_BIND, ""); err != nil {
			die("bind %s on /usr/local/bin: %v", sp.BinDir, err)
		}
	}
	if sp.EtcUpper != "" {
		opts := "lowerdir=/etc,upperdir=" + sp.EtcUpper + ",workdir=" + sp.EtcWork
		if err := syscall.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
			die("overlay on /etc: %v", err)
		}
	}
	if sp.RunDevicepass != "" {
		if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
			die("tmpfs on /run: %v", err)
		}
		if err := os.Mkdir("/run/devicepass", 0o750); err != nil {
			die("%v", err)
		}
		if err := syscall.Mount(sp.RunDevicepass, "/run/devicepass", "", syscall.MS_BIND, ""); err != nil {
			die("bind %s on /run/devicepass: %v", sp.RunDevicepass, err)
		}
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	err := syscall.Exec(sp.Bin, []string{"dovecot", "-F", "-c", sp.Conf}, env)
	die("exec %s: %v", sp.Bin, err)
}
