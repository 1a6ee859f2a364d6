//go:build unix

package cli

import (
	"os/exec"
	"syscall"
)

// canExec says whether execClient can replace the process.
const canExec = true

// execClient replaces this process with the program at path. It returns
// only when that fails.
func execClient(path string, argv, env []string) error {
	return syscall.Exec(path, argv, env)
}

// signalNumber is the signal that ended the process of ee, 0 if none.
func signalNumber(ee *exec.ExitError) int {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return int(ws.Signal())
	}
	return 0
}
