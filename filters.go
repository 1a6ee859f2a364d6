package jit

// Page sizes every store applies, so that a caller gets the same pages
// whichever store is configured.
const (
	DefaultRequestLimit = 50
	MaxRequestLimit     = 1000
	DefaultAuditLimit   = 100
	MaxAuditLimit       = 1000
	MaxClaimLimit       = 1000
)

// pageLimit is limit with its default filled in and its cap applied; a
// negative limit is an ECodeInvalid error.
func pageLimit(limit, def, max int) (int, error) {
	switch {
	case limit < 0:
		return 0, FieldErrorf("limit", ECodeInvalid, "limit %d must not be negative", limit)
	case limit == 0:
		return def, nil
	case limit > max:
		return max, nil
	}
	return limit, nil
}

// Check validates f for Store.ListRequests and returns the limit to apply
// (default 50, at most 1000) and its statuses without repeats, so that the
// query takes one of a bounded set of shapes. Errors are ECodeInvalid.
func (f RequestFilter) Check() (limit int, statuses []Status, err error) {
	if limit, err = pageLimit(f.Limit, DefaultRequestLimit, MaxRequestLimit); err != nil {
		return 0, nil, err
	}
	for _, st := range f.Statuses {
		if !st.Valid() {
			return 0, nil, FieldErrorf("status", ECodeInvalid, "unknown status %q", st)
		}
		dup := false
		for _, s := range statuses {
			dup = dup || s == st
		}
		if !dup {
			statuses = append(statuses, st)
		}
	}
	return limit, statuses, nil
}

// Check validates f for Store.ListAudit and returns the limit to apply
// (default 100, at most 1000). Errors are ECodeInvalid.
func (f AuditFilter) Check() (limit int, err error) {
	if f.AfterSeq < 0 {
		return 0, FieldErrorf("after", ECodeInvalid, "after %d must not be negative", f.AfterSeq)
	}
	return pageLimit(f.Limit, DefaultAuditLimit, MaxAuditLimit)
}

// Check validates p for Store.ClaimJobs. Errors are ECodeInvalid.
func (p ClaimParams) Check() error {
	switch {
	case p.Owner == "":
		return FieldErrorf("owner", ECodeInvalid, "claim needs an owner")
	case p.Now.IsZero():
		return FieldErrorf("now", ECodeInvalid, "claim needs the current time")
	case p.Lease <= 0:
		return FieldErrorf("lease", ECodeInvalid, "lease %v must be positive", p.Lease)
	case p.Limit <= 0 || p.Limit > MaxClaimLimit:
		return FieldErrorf("limit", ECodeInvalid, "limit %d must be between 1 and %d", p.Limit, MaxClaimLimit)
	}
	return nil
}
