package webhooks

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/jitaccess/jit"
)

// Schema names the version of the event document. A change that could
// break a receiver (a member removed, renamed or given another meaning)
// gets a new version; members may be added within a version.
const Schema = "jit.event/v1"

// TypeChanged is the event type of an action this version does not know;
// the event's action member carries the raw action.
const TypeChanged = "request.changed"

// eventTypes maps every action concerning a request (jit.Action* and
// jit.ActionRemind) to its event type. The names are part of the schema:
// never rename one within a version.
var eventTypes = map[string]string{
	jit.ActionSubmit: "request.submitted",
	// An extension is a new request linked to the active one (extends_id);
	// it is filed here and still needs its own approval, so its type says
	// "submitted", not that the access was extended.
	jit.ActionExtend:      "request.extension_submitted",
	jit.ActionApprove:     "request.approved",
	jit.ActionAutoApprove: "request.auto_approved",
	jit.ActionDeny:        "request.denied",
	jit.ActionCancel:      "request.cancelled",
	jit.ActionLapse:       "request.lapsed",
	jit.ActionGrantStart:  "access.granting",
	jit.ActionGrant:       "access.granted",
	jit.ActionGrantRetry:  "access.grant_retrying",
	jit.ActionGrantFailed: "request.failed",
	jit.ActionRelinquish:  "access.relinquished",
	jit.ActionRevoke:      "access.revoked",
	jit.ActionExpire:      "access.expired",
	jit.ActionRevokeDone:  "access.removed",
	jit.ActionRevokeRetry: "access.revoke_retrying",
	jit.ActionOverdue:     "access.revoke_overdue",
	jit.ActionDrift:       "access.drift",
	jit.ActionRemind:      "access.expiring",
}

// EventType returns the event type of a notification's action, or
// TypeChanged for an action this version does not know.
func EventType(action string) string {
	if t, ok := eventTypes[action]; ok {
		return t
	}
	return TypeChanged
}

// Event is the JSON document POSTed for one notification (schema
// jit.event/v1, documented in docs/events.md). Every member is always
// present: absent times are null, absent text is "", lists are [].
// Receivers written in Go may decode into it.
type Event struct {
	Schema string `json:"schema"`
	// ID is the notification's ID: the same on every delivery attempt, it
	// is the key receivers deduplicate on.
	ID string `json:"id"`
	// Type is EventType(Action).
	Type string `json:"type"`
	// Action is the raw jit action behind Type.
	Action     string    `json:"action"`
	OccurredAt time.Time `json:"occurred_at"`
	// Actor is who made the change: an email, or "system".
	Actor string `json:"actor"`
	// Reason is why the change was made (a deny's or revoke's reason, a
	// provider error); the request's own justification is Request.Reason.
	Reason  string       `json:"reason"`
	Request EventRequest `json:"request"`
	// Version is the request's stored version after the change; events of
	// one request may arrive out of order, and a higher version is newer.
	Version int `json:"version"`
}

// EventRequest is the request as the change left it. It deliberately
// lists its members instead of embedding jit.Request, so that a field
// added to jit.Request (or the provider's handle, or a credential) never
// reaches receivers by accident.
type EventRequest struct {
	ID                string           `json:"id"`
	Requester         string           `json:"requester"`
	Resource          string           `json:"resource"`
	Access            string           `json:"access"`
	Status            string           `json:"status"`
	DurationSeconds   int64            `json:"duration_seconds"`
	Reason            string           `json:"reason"`
	ExtendsID         string           `json:"extends_id"`
	Query             string           `json:"query"`
	Privileges        []EventPrivilege `json:"privileges"`
	Target            string           `json:"target"`
	TargetSummary     string           `json:"target_summary"`
	SSHKeyFingerprint string           `json:"ssh_key_fingerprint"`
	Labels            []string         `json:"labels"`
	Rule              string           `json:"rule"`
	Approvers         []string         `json:"approvers"`
	ApprovalsRequired int              `json:"approvals_required"`
	AutoApproved      bool             `json:"auto_approved"`
	Approvals         []EventApproval  `json:"approvals"`
	CreatedAt         *time.Time       `json:"created_at"`
	LapsesAt          *time.Time       `json:"lapses_at"`
	GrantedAt         *time.Time       `json:"granted_at"`
	ExpiresAt         *time.Time       `json:"expires_at"`
	EndedAt           *time.Time       `json:"ended_at"`
	EndedBy           string           `json:"ended_by"`
	EndReason         string           `json:"end_reason"`
}

// EventPrivilege is one table privilege of a query-scoped request.
type EventPrivilege struct {
	Action  string   `json:"action"`
	Schema  string   `json:"schema"`
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
}

// EventApproval is one approver's decision.
type EventApproval struct {
	Approver string     `json:"approver"`
	Approved bool       `json:"approved"`
	Comment  string     `json:"comment"`
	At       *time.Time `json:"at"`
}

// NewEvent returns the event document of n. Times are in UTC.
func NewEvent(n jit.Notification) Event {
	r := n.Request
	ev := Event{
		Schema:     Schema,
		ID:         n.ID,
		Type:       EventType(n.Action),
		Action:     n.Action,
		OccurredAt: n.At.UTC(),
		Actor:      n.Actor,
		Reason:     n.Reason,
		Version:    n.Version,
		Request: EventRequest{
			ID:                r.ID,
			Requester:         r.Requester,
			Resource:          r.Resource,
			Access:            r.Access,
			Status:            string(r.Status),
			DurationSeconds:   int64(r.Duration / time.Second),
			Reason:            r.Reason,
			ExtendsID:         r.ExtendsID,
			Query:             r.Query,
			Target:            r.Target,
			TargetSummary:     r.TargetSummary,
			Labels:            append(make([]string, 0, len(r.Labels)), r.Labels...),
			Privileges:        make([]EventPrivilege, 0, len(r.Privileges)),
			Rule:              r.Rule,
			Approvers:         append(make([]string, 0, len(r.Approvers)), r.Approvers...),
			ApprovalsRequired: r.ApprovalsRequired,
			AutoApproved:      r.AutoApproved,
			Approvals:         make([]EventApproval, 0, len(r.Approvals)),
			CreatedAt:         utc(&r.CreatedAt),
			LapsesAt:          utc(&r.LapsesAt),
			GrantedAt:         utc(r.GrantedAt),
			ExpiresAt:         utc(r.ExpiresAt),
			EndedAt:           utc(r.EndedAt),
			EndedBy:           r.EndedBy,
			EndReason:         r.EndReason,
		},
	}
	for _, p := range r.Privileges {
		ev.Request.Privileges = append(ev.Request.Privileges, EventPrivilege{
			Action: p.Action, Schema: p.Schema, Table: p.Table,
			Columns: append(make([]string, 0, len(p.Columns)), p.Columns...),
		})
	}
	for _, a := range r.Approvals {
		ev.Request.Approvals = append(ev.Request.Approvals, EventApproval{
			Approver: a.Approver, Approved: a.Approved, Comment: a.Comment, At: utc(&a.At),
		})
	}
	if r.SSHPublicKey != "" {
		ev.Request.SSHKeyFingerprint = jit.SSHKeyFingerprint(r.SSHPublicKey)
	}
	return ev
}

// utc returns t in UTC, or nil when t is nil or zero, so that an unset
// time is null rather than "0001-01-01T00:00:00Z".
func utc(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// encode returns the body of the delivery of n. The encoding is
// deterministic, so every attempt sends the same bytes. HTML escaping is
// off: the body goes to programs, and a query's "<" reads better as is.
func encode(n jit.Notification) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(NewEvent(n)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
