package workflow

import (
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// step is one event and what must follow it: the status after it, or the
// error code it must fail with (leaving the request unchanged).
type step struct {
	ev      Event
	status  jit.Status
	errCode string
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ev(kind EventKind, actor, text string) Event {
	return Event{Kind: kind, Actor: actor, Text: text, At: t0}
}

func grantOK() Event {
	return Event{Kind: EvGrantOK, Actor: jit.SystemActor, At: t0, ExpiresAt: t0.Add(time.Hour), Handle: []byte(`{}`)}
}

func TestTransitionSequences(t *testing.T) {
	tests := []struct {
		name      string
		approvals int
		steps     []step
	}{
		{"single approval to expiry", 1, []step{
			{ev(EvApprove, "bob", "ok"), jit.StatusApproved, ""},
			{ev(EvGrantStart, "system", ""), jit.StatusGranting, ""},
			{grantOK(), jit.StatusActive, ""},
			{ev(EvExpire, "system", "expired"), jit.StatusRevoking, ""},
			{ev(EvRevokeDone, "system", ""), jit.StatusExpired, ""},
		}},
		{"relinquish", 1, []step{
			{ev(EvApprove, "bob", ""), jit.StatusApproved, ""},
			{ev(EvGrantStart, "system", ""), jit.StatusGranting, ""},
			{grantOK(), jit.StatusActive, ""},
			{ev(EvRelinquish, "alice", ""), jit.StatusRevoking, ""},
			{ev(EvRelinquish, "alice", ""), "", jit.ECodeInvalidState},
			{ev(EvRevokeDone, "system", ""), jit.StatusRelinquished, ""},
			{ev(EvRevokeDone, "system", ""), "", jit.ECodeInvalidState},
		}},
		{"revoke needs a reason and an active grant", 1, []step{
			{ev(EvRevoke, "carol", "bad"), "", jit.ECodeInvalidState},
			{ev(EvApprove, "bob", ""), jit.StatusApproved, ""},
			{ev(EvGrantStart, "system", ""), jit.StatusGranting, ""},
			{grantOK(), jit.StatusActive, ""},
			{ev(EvRevoke, "carol", "  "), "", jit.ECodeReasonNeeded},
			{ev(EvRevoke, "carol", "incident over"), jit.StatusRevoking, ""},
			{ev(EvExpire, "system", ""), "", jit.ECodeInvalidState},
			{ev(EvRevokeDone, "system", ""), jit.StatusRevoked, ""},
		}},
		{"multi-party: each approver counts once", 2, []step{
			{ev(EvApprove, "bob", ""), jit.StatusPending, ""},
			{ev(EvApprove, "bob", "again"), "", jit.ECodeAlreadyApproved},
			{ev(EvGrantStart, "system", ""), "", jit.ECodeInvalidState},
			{ev(EvApprove, "dave", ""), jit.StatusApproved, ""},
			{ev(EvApprove, "erin", ""), "", jit.ECodeInvalidState},
		}},
		{"deny ends the request", 2, []step{
			{ev(EvApprove, "bob", ""), jit.StatusPending, ""},
			{ev(EvDeny, "dave", ""), "", jit.ECodeReasonNeeded},
			{ev(EvDeny, "dave", "not during freeze"), jit.StatusDenied, ""},
			{ev(EvApprove, "erin", ""), "", jit.ECodeInvalidState},
			{ev(EvCancel, "alice", ""), "", jit.ECodeInvalidState},
		}},
		{"cancel while pending", 1, []step{
			{ev(EvCancel, "alice", ""), jit.StatusCancelled, ""},
			{ev(EvLapse, "system", ""), "", jit.ECodeInvalidState},
		}},
		{"cancel after approval, before the grant starts", 1, []step{
			{ev(EvApprove, "bob", ""), jit.StatusApproved, ""},
			{ev(EvCancel, "alice", ""), jit.StatusCancelled, ""},
			{ev(EvGrantStart, "system", ""), "", jit.ECodeInvalidState},
		}},
		{"lapse", 1, []step{
			{ev(EvLapse, "system", "no decision in time"), jit.StatusLapsed, ""},
			{ev(EvApprove, "bob", ""), "", jit.ECodeInvalidState},
		}},
		{"grant fails", 1, []step{
			{ev(EvApprove, "bob", ""), jit.StatusApproved, ""},
			{ev(EvGrantStart, "system", ""), jit.StatusGranting, ""},
			{ev(EvCancel, "alice", ""), "", jit.ECodeInvalidState},
			{ev(EvRelinquish, "alice", ""), "", jit.ECodeInvalidState},
			{ev(EvGrantFailed, "system", "connection refused"), jit.StatusFailed, ""},
			{grantOK(), "", jit.ECodeInvalidState},
		}},
		{"policy refuses before the grant starts", 1, []step{
			{ev(EvApprove, "bob", ""), jit.StatusApproved, ""},
			{ev(EvGrantFailed, "system", "no longer allowed"), jit.StatusFailed, ""},
		}},
		{"grant that would already be expired is refused", 1, []step{
			{ev(EvApprove, "bob", ""), jit.StatusApproved, ""},
			{ev(EvGrantStart, "system", ""), jit.StatusGranting, ""},
			{Event{Kind: EvGrantOK, At: t0, ExpiresAt: t0}, "", jit.ECodeInvalid},
			{grantOK(), jit.StatusActive, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &jit.Request{ID: "r1", Requester: "alice", Status: jit.StatusPending, ApprovalsRequired: tt.approvals}
			for i, st := range tt.steps {
				before := *r.Clone()
				n, err := Transition(r, st.ev)
				if st.errCode != "" {
					if got := jit.ErrorCode(err); got != st.errCode {
						t.Fatalf("step %d (%s): error code %q, want %q (err %v)", i, st.ev.Kind, got, st.errCode, err)
					}
					if r.Status != before.Status || len(r.Approvals) != len(before.Approvals) {
						t.Fatalf("step %d: a refused event changed the request", i)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d (%s): %v", i, st.ev.Kind, err)
				}
				if n.Status != st.status {
					t.Fatalf("step %d (%s): status %s, want %s", i, st.ev.Kind, n.Status, st.status)
				}
				if r.Status != before.Status {
					t.Fatalf("step %d: Transition mutated its input", i)
				}
				r = n
			}
		})
	}
}

func TestTransitionRecordsEnd(t *testing.T) {
	r := &jit.Request{ID: "r1", Status: jit.StatusPending, ApprovalsRequired: 1}
	n, err := Transition(r, ev(EvDeny, "bob", "freeze"))
	if err != nil {
		t.Fatal(err)
	}
	if n.EndedBy != "bob" || n.EndReason != "freeze" || n.EndedAt == nil || !n.EndedAt.Equal(t0) {
		t.Fatalf("deny did not record who, why and when: %+v", n)
	}
	if len(n.Approvals) != 1 || n.Approvals[0].Approved {
		t.Fatalf("deny not recorded as a negative decision: %+v", n.Approvals)
	}
	a, _ := Transition(&jit.Request{ID: "r2", Status: jit.StatusPending, ApprovalsRequired: 1}, ev(EvApprove, "bob", "x"))
	a, _ = Transition(a, ev(EvGrantStart, "system", ""))
	a, err = Transition(a, grantOK())
	if err != nil {
		t.Fatal(err)
	}
	if a.ExpiresAt == nil || !a.ExpiresAt.Equal(t0.Add(time.Hour)) || a.GrantedAt == nil || string(a.Handle) != "{}" {
		t.Fatalf("grant did not record expiry, time and handle: %+v", a)
	}
}
