// Package observe wraps a provider to log each call and record metrics,
// in the manner of the middleware around HashiCorp Vault's database
// plugins: the wrapped provider implements the same interface, so the
// workflow is unaware of it.
//
// Logs name the operation, request, user, resource, access level,
// outcome, duration and error. They never contain credential data or
// handles: a credential is for its requester only, and a handle, while not
// secret by contract, is the target's business and may be large.
package observe

import (
	"context"
	"log/slog"
	"time"

	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/provider"
)

// Outcome label values of jit_provider_calls_total and of the log's
// "outcome" attribute.
const (
	OutcomeOK         = "ok"
	OutcomeNotApplied = "not_applied"
	OutcomeError      = "error"
)

// Operation names, the "op" label and attribute.
const (
	OpGrant  = "grant"
	OpRevoke = "revoke"
	OpVerify = "verify"
)

var (
	_ provider.Provider = (*observed)(nil)
	_ provider.Wrapper  = (*observed)(nil)
)

type observed struct {
	inner provider.Provider
	typ   string
	log   *slog.Logger
	m     *metrics.Metrics
}

// Wrap returns p with logging to log and metrics recorded in m under the
// provider type typ. log and m may be nil (no logs, no metrics). Errors
// and responses of p pass through unchanged, so provider.IsNotApplied
// still works on them.
//
// The wrapper implements only provider.Provider (and provider.Wrapper).
// Optional capabilities of p (provider.Router, provider.Closer,
// provider.StoreEnforced) are reached with Unwrap or provider.As, so that
// a type assertion on the wrapper never claims a capability p lacks.
func Wrap(p provider.Provider, typ string, log *slog.Logger, m *metrics.Metrics) provider.Provider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &observed{inner: p, typ: typ, log: log, m: m}
}

// Unwrap returns the provider p wraps when p was made by Wrap (through any
// number of Wrap layers), and p itself otherwise, so that callers can type
// assert the result for capabilities.
func Unwrap(p provider.Provider) provider.Provider {
	for {
		o, ok := p.(*observed)
		if !ok {
			return p
		}
		p = o.inner
	}
}

// Unwrap implements provider.Wrapper.
func (o *observed) Unwrap() provider.Provider { return o.inner }

func (o *observed) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	start := time.Now()
	resp, err := o.inner.Grant(ctx, req)
	var extra []slog.Attr
	if err == nil {
		// Whether a credential was issued, and of what kind, is useful
		// and harmless; its data is never touched.
		if resp.Credential != nil {
			extra = append(extra, slog.String("credential_kind", resp.Credential.Kind))
		}
		if !req.ExpiresAt.IsZero() {
			extra = append(extra, slog.Time("expires_at", req.ExpiresAt))
		}
	}
	o.record(ctx, OpGrant, req.RequestID, req.User, req.Resource, req.Access, start, err, extra...)
	return resp, err
}

func (o *observed) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	start := time.Now()
	resp, err := o.inner.Revoke(ctx, req)
	o.record(ctx, OpRevoke, req.RequestID, req.User, req.Resource, req.Access, start, err)
	return resp, err
}

func (o *observed) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	start := time.Now()
	resp, err := o.inner.Verify(ctx, req)
	var extra []slog.Attr
	if err == nil {
		extra = append(extra, slog.Bool("present", resp.Present))
	}
	o.record(ctx, OpVerify, req.RequestID, req.User, req.Resource, req.Access, start, err, extra...)
	return resp, err
}

// record logs one call and updates the metrics. Latency is measured with
// the monotonic clock (time.Now/time.Since) rather than jit.Clock: it is a
// measurement, not a decision, and jit.Clock's UTC wall time has no
// monotonic reading.
func (o *observed) record(ctx context.Context, op, requestID, user, resource, access string, start time.Time, err error, extra ...slog.Attr) {
	elapsed := time.Since(start)
	outcome, level := OutcomeOK, slog.LevelInfo
	switch {
	case err == nil:
	case provider.IsNotApplied(err):
		// The target did nothing and the job will retry: worth a warning,
		// not an alarm.
		outcome, level = OutcomeNotApplied, slog.LevelWarn
	default:
		outcome, level = OutcomeError, slog.LevelError
	}
	if o.m != nil {
		o.m.ProviderCalls.WithLabelValues(o.typ, op, outcome).Inc()
		o.m.ProviderDuration.WithLabelValues(o.typ, op).Observe(elapsed.Seconds())
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	attrs := append([]slog.Attr{
		slog.String("provider", o.typ),
		slog.String("op", op),
		slog.String("request_id", requestID),
		slog.String("user", user),
		slog.String("resource", resource),
		slog.String("access", access),
		slog.String("outcome", outcome),
		slog.Duration("duration", elapsed),
	}, extra...)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	o.log.LogAttrs(ctx, level, "provider call", attrs...)
}
