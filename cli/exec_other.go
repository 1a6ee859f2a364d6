//go:build !unix

package cli

import (
	"errors"
	"os/exec"
)

// canExec says whether execClient can replace the process: not here, so
// the client always runs as a child.
const canExec = false

func execClient(path string, argv, env []string) error {
	return errors.New("replacing the process is not supported on this platform")
}

func signalNumber(ee *exec.ExitError) int { return 0 }
