package provider

import "errors"

// notApplied marks an error after which the target certainly did nothing.
type notApplied struct{ err error }

func (e *notApplied) Error() string { return e.err.Error() }
func (e *notApplied) Unwrap() error { return e.err }

// NotApplied wraps err to say that the target certainly did not apply the
// call (for example the connection was refused before anything was sent),
// so a retry is safe and no reconciliation is needed. Use it only when that
// is certain: the rule of database/sql/driver.ErrBadConn.
func NotApplied(err error) error {
	if err == nil {
		return nil
	}
	return &notApplied{err: err}
}

// IsNotApplied reports whether err was wrapped with NotApplied.
func IsNotApplied(err error) bool {
	var n *notApplied
	return errors.As(err, &n)
}
