//go:build !unix

package sshca

// openNonblock is the flag LoadCA opens the CA key file with: none where
// there are no FIFOs to wait on.
const openNonblock = 0
