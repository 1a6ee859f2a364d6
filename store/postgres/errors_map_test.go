package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitaccess/jit"
)

// Connection-level failures become ECodeUnavailable; statement-level ones
// keep their meaning (a conflict, an internal error), and a caller that
// went away is not the store's fault.
func TestErrorMapping(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name       string
		err        error
		unreach    bool
		write, get string // codes from mapWriteErr and mapReadErr
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"connection failure (class 08)", &pgconn.PgError{Code: "08006"}, true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"connection refused", fmt.Errorf("dial: %w", refused), true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"closed under a statement", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"closed connection", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true, jit.ECodeUnavailable, jit.ECodeUnavailable},
		{"caller cancelled", fmt.Errorf("query: %w", context.Canceled), false, jit.ECodeInternal, jit.ECodeInternal},
		{"unique violation", &pgconn.PgError{Code: codeUniqueViolation}, false, jit.ECodeConflict, jit.ECodeInternal},
		{"serialization failure", &pgconn.PgError{Code: codeSerializationFailure}, false, jit.ECodeConflict, jit.ECodeInternal},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false, jit.ECodeInternal, jit.ECodeInternal},
		{"other error", errors.New("scan: wrong type"), false, jit.ECodeInternal, jit.ECodeInternal},
		{"jit error passes through", jit.Errorf(jit.ECodeNotFound, "gone"), false, jit.ECodeNotFound, jit.ECodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unreachable(tc.err); got != tc.unreach {
				t.Errorf("Unreachable = %v, want %v", got, tc.unreach)
			}
			werr, rerr := mapWriteErr("write", tc.err), mapReadErr("read", tc.err)
			if got := jit.ErrorCode(werr); got != tc.write {
				t.Errorf("mapWriteErr code = %s (%v), want %s", got, werr, tc.write)
			}
			if got := jit.ErrorCode(rerr); got != tc.get {
				t.Errorf("mapReadErr code = %s (%v), want %s", got, rerr, tc.get)
			}
			for _, err := range []error{werr, rerr} {
				// The cause of an unavailable or internal error stays
				// in the chain for the log and errors.Is.
				if c := jit.ErrorCode(err); (c == jit.ECodeUnavailable || c == jit.ECodeInternal) && !errors.Is(err, tc.err) {
					t.Errorf("%v does not wrap the cause", err)
				}
				if tc.unreach && jit.ErrorMessage(err) != UnreachableMessage {
					t.Errorf("message %q, want %q", jit.ErrorMessage(err), UnreachableMessage)
				}
				if tc.unreach && !strings.Contains(err.Error(), tc.err.Error()) {
					t.Errorf("%q does not name the cause %q", err, tc.err)
				}
			}
		})
	}
	if mapWriteErr("x", nil) != nil || mapReadErr("x", nil) != nil || Unreachable(nil) {
		t.Error("nil is not an error")
	}
}
