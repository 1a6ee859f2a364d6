//go:build unix

package sshca

import "syscall"

// openNonblock is the flag LoadCA opens the CA key file with.
const openNonblock = syscall.O_NONBLOCK
