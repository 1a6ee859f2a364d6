//go:build unix

package exec

import (
	osexec "os/exec"
	"syscall"
)

// killGroupOnCancel starts the command in its own process group and makes
// cancellation kill the whole group: a script's children (a psql, a curl
// it started) must not outlive a call that timed out.
func killGroupOnCancel(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// A negative PID signals the process group whose ID is the
		// command's PID (Setpgid made it the group leader).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
