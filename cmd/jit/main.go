// Command jit is the command line for just-in-time access. See package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jitaccess/jit/cli"
)

func main() {
	// An interrupt cancels the running call (a --wait stops and says where
	// the request stands) instead of killing the process mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
