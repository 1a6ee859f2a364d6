package provider

// StoreEnforced is an optional capability of providers whose access lives
// in jit's own store rather than in a target: the forward-auth provider
// ("http") creates nothing anywhere, and jitd's authz endpoint decides each
// HTTP request from the store (an active, unexpired grant). For such a
// provider Verify cannot observe the access, so callers must not use it to
// reconcile; the store is the source of truth.
type StoreEnforced interface {
	StoreEnforced() bool
}

// Wrapper is implemented by providers that wrap another one to add
// behaviour around its calls (logging, metrics). Unwrap returns the wrapped
// provider, so that its optional capabilities stay reachable.
type Wrapper interface {
	Unwrap() Provider
}

// As returns the first provider in p's chain of wrappers (p itself first,
// then each Wrapper's Unwrap) that implements T, as errors.As does for
// errors. Callers use it to find optional capabilities (Router, Closer,
// StoreEnforced) through wrappers that do not implement them.
func As[T any](p Provider) (T, bool) {
	var zero T
	for p != nil {
		if t, ok := p.(T); ok {
			return t, true
		}
		w, ok := p.(Wrapper)
		if !ok {
			return zero, false
		}
		p = w.Unwrap()
	}
	return zero, false
}

// IsStoreEnforced reports whether p, or a provider it wraps, keeps its
// access in jit's store (see StoreEnforced).
func IsStoreEnforced(p Provider) bool {
	s, ok := As[StoreEnforced](p)
	return ok && s.StoreEnforced()
}

// CredentialIssuer is an optional capability of providers whose grants
// return a Credential (a database password, a certificate). jit encrypts
// the credential to the requester's public key, so it refuses requests
// for such a provider from people who have registered none: the
// credential could not be delivered.
type CredentialIssuer interface {
	IssuesCredentials() bool
}

// IssuesCredentials reports whether p, or a provider it wraps, returns
// credentials from Grant.
func IssuesCredentials(p Provider) bool {
	c, ok := As[CredentialIssuer](p)
	return ok && c.IssuesCredentials()
}
