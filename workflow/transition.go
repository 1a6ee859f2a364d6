// Package workflow holds the request lifecycle: pure state transitions
// (transition.go) and the Service that ties policy, store, providers and
// the audit log together.
package workflow

import (
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// EventKind names something that happens to a request.
type EventKind string

// The events of the lifecycle.
const (
	EvApprove     EventKind = "approve"
	EvDeny        EventKind = "deny"
	EvCancel      EventKind = "cancel"
	EvLapse       EventKind = "lapse"
	EvGrantStart  EventKind = "grant_start"
	EvGrantOK     EventKind = "grant_ok"
	EvGrantFailed EventKind = "grant_failed"
	EvRelinquish  EventKind = "relinquish"
	EvRevoke      EventKind = "revoke"
	EvExpire      EventKind = "expire"
	EvRevokeDone  EventKind = "revoke_done"
)

// Event is one thing that happens to a request, with what the transition
// needs to know about it.
type Event struct {
	Kind  EventKind
	Actor string
	At    time.Time
	// Text is the approval comment, the deny/revoke reason or the grant
	// failure.
	Text string
	// Handle and ExpiresAt are set for EvGrantOK.
	Handle    []byte
	ExpiresAt time.Time
}

// Transition returns the request after ev, leaving r untouched. It checks
// only the lifecycle (which events are possible in which state, one
// approval per approver, reasons where required); who may do what is the
// policy's business and is checked by the Service before.
func Transition(r *jit.Request, ev Event) (*jit.Request, error) {
	n := r.Clone()
	at := ev.At.UTC()
	n.UpdatedAt = at
	end := func(s jit.Status) {
		n.Status = s
		n.EndedAt = &at
		n.EndedBy = ev.Actor
		n.EndReason = ev.Text
	}
	switch ev.Kind {
	case EvApprove:
		if err := need(r, ev, jit.StatusPending); err != nil {
			return nil, err
		}
		if r.ApprovedBy(ev.Actor) {
			return nil, jit.Errorf(jit.ECodeAlreadyApproved, "%s has already approved request %s", ev.Actor, r.ID)
		}
		n.Approvals = append(n.Approvals, jit.Approval{RequestID: r.ID, Approver: ev.Actor, Approved: true, Comment: ev.Text, At: at})
		if n.ApprovalCount() >= n.ApprovalsRequired {
			n.Status = jit.StatusApproved
		}
	case EvDeny:
		if strings.TrimSpace(ev.Text) == "" {
			return nil, jit.FieldErrorf("reason", jit.ECodeReasonNeeded, "a deny needs a reason")
		}
		if err := need(r, ev, jit.StatusPending); err != nil {
			return nil, err
		}
		n.Approvals = append(n.Approvals, jit.Approval{RequestID: r.ID, Approver: ev.Actor, Approved: false, Comment: ev.Text, At: at})
		end(jit.StatusDenied)
	case EvCancel:
		if err := need(r, ev, jit.StatusPending, jit.StatusApproved); err != nil {
			return nil, err
		}
		end(jit.StatusCancelled)
	case EvLapse:
		if err := need(r, ev, jit.StatusPending); err != nil {
			return nil, err
		}
		end(jit.StatusLapsed)
	case EvGrantStart:
		if err := need(r, ev, jit.StatusApproved); err != nil {
			return nil, err
		}
		n.Status = jit.StatusGranting
	case EvGrantOK:
		if err := need(r, ev, jit.StatusGranting); err != nil {
			return nil, err
		}
		if !ev.ExpiresAt.After(at) {
			return nil, jit.Errorf(jit.ECodeInvalid, "grant of %s would expire at %s, not after now", r.ID, ev.ExpiresAt.Format(time.RFC3339))
		}
		exp := ev.ExpiresAt.UTC()
		n.Status = jit.StatusActive
		n.GrantedAt = &at
		n.ExpiresAt = &exp
		n.Handle = append([]byte(nil), ev.Handle...)
	case EvGrantFailed:
		if err := need(r, ev, jit.StatusApproved, jit.StatusGranting); err != nil {
			return nil, err
		}
		end(jit.StatusFailed)
	case EvRelinquish:
		if err := need(r, ev, jit.StatusActive); err != nil {
			return nil, err
		}
		startRevoke(n, ev, at, jit.StatusRelinquished)
	case EvRevoke:
		if strings.TrimSpace(ev.Text) == "" {
			return nil, jit.FieldErrorf("reason", jit.ECodeReasonNeeded, "a revoke needs a reason")
		}
		if err := need(r, ev, jit.StatusActive); err != nil {
			return nil, err
		}
		startRevoke(n, ev, at, jit.StatusRevoked)
	case EvExpire:
		if err := need(r, ev, jit.StatusActive); err != nil {
			return nil, err
		}
		startRevoke(n, ev, at, jit.StatusExpired)
	case EvRevokeDone:
		if err := need(r, ev, jit.StatusRevoking); err != nil {
			return nil, err
		}
		n.Status = r.EndStatus
		if !n.Status.Terminal() {
			// A revoking request always knows how it will end; a missing
			// end status is treated as a revoke rather than left open.
			n.Status = jit.StatusRevoked
		}
		n.EndStatus = ""
	default:
		return nil, jit.Errorf(jit.ECodeInvalid, "unknown event %q", ev.Kind)
	}
	return n, nil
}

// startRevoke moves n to revoking and records who ended it and why; the
// terminal status is taken once the target confirms the access is gone.
func startRevoke(n *jit.Request, ev Event, at time.Time, final jit.Status) {
	n.Status = jit.StatusRevoking
	n.EndStatus = final
	n.EndedAt = &at
	n.EndedBy = ev.Actor
	n.EndReason = ev.Text
}

// need returns an invalid_state error unless r is in one of the states.
func need(r *jit.Request, ev Event, states ...jit.Status) error {
	for _, s := range states {
		if r.Status == s {
			return nil
		}
	}
	want := make([]string, len(states))
	for i, s := range states {
		want[i] = string(s)
	}
	return jit.Errorf(jit.ECodeInvalidState, "cannot %s request %s: it is %s (needs %s)",
		strings.ReplaceAll(string(ev.Kind), "_", " "), r.ID, r.Status, strings.Join(want, " or "))
}
