package jit

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"time"
)

// Audit actions. Every state change and every security-relevant action
// appends one event with one of these actions.
const (
	ActionSubmit       = "submit"
	ActionApprove      = "approve"
	ActionDeny         = "deny"
	ActionCancel       = "cancel"
	ActionLapse        = "lapse"
	ActionAutoApprove  = "auto_approve"
	ActionGrantStart   = "grant_start"
	ActionGrant        = "grant"
	ActionGrantRetry   = "grant_retry"
	ActionGrantFailed  = "grant_failed"
	ActionRelinquish   = "relinquish"
	ActionRevoke       = "revoke"
	ActionExpire       = "expire"
	ActionRevokeDone   = "revoke_done"
	ActionRevokeRetry  = "revoke_retry"
	ActionOverdue      = "revoke_overdue"
	ActionExtend       = "extend"
	ActionPolicyReload = "policy_reload"
	ActionPolicyError  = "policy_reload_failed"
	ActionTokenCreate  = "token_create"
	// ActionKeyRegister records a person registering (or replacing) the
	// public key their credentials are encrypted to; Details["public_key"]
	// is the key.
	ActionKeyRegister = "key_register"
	// ActionDrift records a difference the reconciler found between the
	// store and a target; Details["kind"] says which ("orphan": access
	// without an active grant, revoked; "vanished": an active grant whose
	// access is gone; "swept": access past its written expiry that a
	// provider's sweep deleted from its target, Details["objects"] many).
	ActionDrift = "drift"
)

// AuditEvent is one entry of the append-only, hash-chained audit log. Each
// event's Hash covers its own fields and the previous event's hash, so a
// changed, deleted or reordered event breaks the chain at that point.
type AuditEvent struct {
	// Seq is the event's position in the chain, starting at 1. The store
	// assigns it.
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	RequestID string    `json:"request_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Source    Source    `json:"source"`
	// Details holds flat, non-secret facts about the action (rule, expiry,
	// provider error...).
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// ComputeHash returns the hex SHA-256 of the event's fields and PrevHash.
// Time is hashed at microsecond precision, the finest every store keeps.
// Each field is length-prefixed so that no two different events encode the
// same bytes.
func (e *AuditEvent) ComputeHash() string {
	h := sha256.New()
	write := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	write(e.PrevHash)
	write(strconv.FormatInt(e.Seq, 10))
	write(strconv.FormatInt(e.Time.UnixMicro(), 10))
	write(e.Actor)
	write(e.Action)
	write(e.RequestID)
	write(e.Reason)
	write(e.Source.Kind)
	write(e.Source.IP)
	write(e.Source.UserAgent)
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	write(strconv.Itoa(len(keys)))
	for _, k := range keys {
		write(k)
		write(e.Details[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Seal sets Seq, PrevHash and Hash for appending e after an event whose
// sequence number and hash are prevSeq and prevHash (0 and "" for the first).
// Time is truncated to microseconds first, so that what is stored is exactly
// what was hashed.
func (e *AuditEvent) Seal(prevSeq int64, prevHash string) {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Seq = prevSeq + 1
	e.PrevHash = prevHash
	e.Hash = e.ComputeHash()
}

// AuditFilter selects audit events, in Seq order.
type AuditFilter struct {
	RequestID string
	Actor     string
	Action    string
	Since     time.Time
	// AfterSeq returns events with Seq > AfterSeq (paging).
	AfterSeq int64
	Limit    int
}
