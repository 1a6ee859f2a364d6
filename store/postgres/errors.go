package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitaccess/jit"
)

// UnreachableMessage is the message of the ECodeUnavailable error every store
// method returns when the database cannot be reached or dropped the
// connection (see Unreachable).
const UnreachableMessage = "the store is unreachable"

// SQLSTATE codes that mean the server, not the statement, is the problem:
// it is shutting down or starting up, or is out of connection slots. Class
// 08 (connection exception) is matched by its prefix.
const (
	codeAdminShutdown     = "57P01"
	codeCrashShutdown     = "57P02"
	codeCannotConnectNow  = "57P03"
	codeTooManyConnection = "53300"
	classConnection       = "08"
)

// Unreachable reports whether err says that the database could not be
// reached or lost the connection, as opposed to refusing a statement: a
// failed connection attempt (refused, reset, timed out, the server starting
// up or shutting down), a connection closed or reset under a statement, an
// administrator's or crash shutdown, or a pgx error raised before anything
// was sent. A cancelled context is not: the caller went away, the store did
// not.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if code := pgCode(err); code != "" {
		switch code {
		case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow, codeTooManyConnection:
			return true
		}
		return strings.HasPrefix(code, classConnection)
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &ne):
		// Any other failure of the socket (a dial error, a timeout).
		return true
	}
	return false
}

// unreachable wraps err, which Unreachable accepted, as an ECodeUnavailable
// error for the caller (503, "retry later") that keeps the cause in its
// text for the log. pgx's connection errors name the host, user and
// database but never the password, so the DSN's secret is not repeated.
func unreachable(what string, err error) error {
	return fmt.Errorf("postgres: %s: %w: %w", what, jit.Errorf(jit.ECodeUnavailable, UnreachableMessage), err)
}

// mapReadErr wraps the failure of a read with what was being done, turning
// a lost or refused connection into ECodeUnavailable. *jit.Error values
// pass through.
func mapReadErr(what string, err error) error {
	var je *jit.Error
	switch {
	case err == nil || errors.As(err, &je):
		return err
	case Unreachable(err):
		return unreachable(what, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
