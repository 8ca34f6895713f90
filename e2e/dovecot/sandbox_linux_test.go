package dovecot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

func canSandbox() error { return nil }

// namespaced starts a process in a private mount namespace: Go makes its
// mounts private, so nothing mounted in it is seen outside, and it ends
// with the test binary.
func namespaced() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGTERM}
}

// sandbox runs in the new mount namespace: it mounts the test's build at
// /usr/local/bin and lays the settings directory over /etc, then becomes
// Dovecot.
func sandbox(spec string) {
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "sandbox: "+format+"\n", args...)
		os.Exit(1)
	}
	p := strings.Split(spec, string(filepath.ListSeparator))
	if len(p) != 5 {
		die("bad %s", sandboxEnv)
	}
	binDir, etcUpper, etcWork, bin, conf := p[0], p[1], p[2], p[3], p[4]
	if err := syscall.Mount(binDir, filepath.Dir(installedProgram), "", syscall.MS_BIND, ""); err != nil {
		die("bind %s on %s: %v", binDir, filepath.Dir(installedProgram), err)
	}
	opts := "lowerdir=/etc,upperdir=" + etcUpper + ",workdir=" + etcWork
	if err := syscall.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
		die("overlay on /etc: %v", err)
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	err := syscall.Exec(bin, []string{"dovecot", "-F", "-c", conf}, env)
	die("exec %s: %v", bin, err)
}
