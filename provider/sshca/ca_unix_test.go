//go:build unix

package sshca

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadCAFIFO: a ca_key_file that names a FIFO is refused at once.
// Opening a FIFO for reading waits for a writer; a Grant, and every KRL
// request, would hang on it holding the provider's lock.
func TestLoadCAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := LoadCA(path)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("LoadCA of a FIFO = %v; want it refused as not a regular file", err)
		}
	case <-time.After(5 * time.Second):
		// Unblock the open so that the goroutine ends with the test.
		if f, err := openWriteNonblock(path); err == nil {
			f.Close()
		}
		t.Fatal("LoadCA of a FIFO blocks")
	}
}

func openWriteNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
}
