//go:build !unix

package exec

import osexec "os/exec"

// killGroupOnCancel keeps os/exec's default on systems without process
// groups: only the command itself is killed on cancellation.
func killGroupOnCancel(cmd *osexec.Cmd) {}
