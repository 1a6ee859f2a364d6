// Package storetest is the conformance suite every jit.Store passes. A store
// package runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) jit.Store { ... a new, empty store ... })
//	}
//
// The suite holds each store to the doc comments of jit.Store and
// jit.Change, plus what the stores promise beyond them: invariant 1
// (fields fixed at submit cannot be updated), Limit defaults and caps, and
// ECodeInvalid for malformed input with nothing written. Every time it uses
// is fixed, so no test depends on the wall clock.
//
// A store that is also a jit.RecordStore runs RunRecords, which opens it
// with the suite's clock:
//
//	func TestRecords(t *testing.T) {
//		storetest.RunRecords(t, func(t *testing.T, clock jit.Clock) jit.RecordStore { ... })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// Opener returns a new, empty store and registers closing it with
// t.Cleanup.
type Opener func(t *testing.T) jit.Store

// Run runs the conformance suite; each subtest opens its own store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s jit.Store)
	}{
		{"RequestRoundTrip", testRequestRoundTrip},
		{"GetMissing", testGetMissing},
		{"InsertExisting", testInsertExisting},
		{"UpdateVersion", testUpdateVersion},
		{"UpdateMissing", testUpdateMissing},
		{"UpdateFixedFields", testUpdateFixedFields},
		{"InvalidChange", testInvalidChange},
		{"Approvals", testApprovals},
		{"ListRequests", testListRequests},
		{"ListRequestsPaging", testListRequestsPaging},
		{"ListRequestsBadInput", testListRequestsBadInput},
		{"FindActive", testFindActive},
		{"CountRequests", testCountRequests},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentMixedChanges", testConcurrentMixedChanges},
		{"AuditChain", testAuditChain},
		{"AuditFilters", testAuditFilters},
		{"AuditLimits", testAuditLimits},
		{"ConcurrentAppends", testConcurrentAppends},
		{"JobUpsert", testJobUpsert},
		{"DeleteJobs", testDeleteJobs},
		{"ClaimJobs", testClaimJobs},
		{"ClaimJobsBadInput", testClaimJobsBadInput},
		{"ConcurrentClaims", testConcurrentClaims},
		{"RetryJob", testRetryJob},
		{"RenewLease", testRenewLease},
		{"NextJobAt", testNextJobAt},
		{"ListJobs", testListJobs},
		{"JobPayload", testJobPayload},
		{"Tokens", testTokens},
		{"QueryRoundTrip", testQueryRoundTrip},
		{"EmptyPrivileges", testEmptyPrivileges},
		{"SubjectRoundTrip", testSubjectRoundTrip},
		{"PublicKeys", testPublicKeys},
		{"Credentials", testCredentials},
		{"CredentialAllOrNothing", testCredentialAllOrNothing},
		{"ConcurrentCredentials", testConcurrentCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// ReopenOpener returns a new, empty store and a function that opens
// another store on the same data (a restart, or a second replica). Each
// store it returns is closed by a t.Cleanup it registers; the suite may
// close one earlier, so Close must tolerate a second call.
type ReopenOpener func(t *testing.T) (jit.Store, func(t *testing.T) jit.Store)

// RunReopen runs the tests that need a second store on the same data:
// everything survives a restart and the audit chain continues from where
// it was; two stores open at once (two processes, two replicas) keep one
// contiguous chain and never claim the same job; records written through
// one are seen, at their revision, by the other (for stores that are a
// jit.RecordStore).
func RunReopen(t *testing.T, open ReopenOpener) {
	t.Run("SurvivesReopen", func(t *testing.T) { testSurvivesReopen(t, open) })
	t.Run("TwoStoresOneChain", func(t *testing.T) { testTwoStoresOneChain(t, open) })
	t.Run("TwoStoresClaim", func(t *testing.T) { testTwoStoresClaim(t, open) })
	t.Run("RecordsTwoStores", func(t *testing.T) { testRecordsTwoStores(t, open) })
}

// t0 has a sub-microsecond part, so that tests see stores keep microseconds.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.UTC)

func newRequest(id, requester, resource string, st jit.Status, created time.Time) *jit.Request {
	return &jit.Request{
		ID: id, Requester: requester, Resource: resource, Access: "read",
		Duration: time.Hour, Reason: "INC-1", Approvers: []string{"group:sre"},
		Status: st, Rule: "engineers", ApprovalsRequired: 1,
		CreatedAt: created, UpdatedAt: created, LapsesAt: created.Add(24 * time.Hour),
	}
}

func newEvent(action, requestID string, at time.Time) jit.AuditEvent {
	return jit.AuditEvent{
		Time: at, Actor: "alice@example.com", Action: action, RequestID: requestID,
		Source: jit.Source{Kind: "cli", IP: "192.0.2.1", UserAgent: "jit/1.0"},
	}
}

func apply(t *testing.T, s jit.Store, c *jit.Change) {
	t.Helper()
	if err := s.Apply(context.Background(), c); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// insert stores new requests, each with a submit event.
func insert(t *testing.T, s jit.Store, rs ...*jit.Request) {
	t.Helper()
	for _, r := range rs {
		apply(t, s, &jit.Change{Request: r, Events: []jit.AuditEvent{newEvent(jit.ActionSubmit, r.ID, r.CreatedAt)}})
	}
}

func get(t *testing.T, s jit.Store, id string) *jit.Request {
	t.Helper()
	r, err := s.GetRequest(context.Background(), id)
	if err != nil {
		t.Fatalf("GetRequest(%s): %v", id, err)
	}
	return r
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := jit.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantField fails unless err is an *jit.Error about field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var je *jit.Error
	if !errors.As(err, &je) || je.Field != field {
		t.Fatalf("%s: error %v names field %q, want %q", what, err, fieldOf(err), field)
	}
}

func fieldOf(err error) string {
	var je *jit.Error
	if errors.As(err, &je) {
		return je.Field
	}
	return ""
}

// allAudit reads the whole chain, a page at a time.
func allAudit(t *testing.T, s jit.Store) []jit.AuditEvent {
	t.Helper()
	var out []jit.AuditEvent
	var after int64
	for {
		page, err := s.ListAudit(context.Background(), jit.AuditFilter{AfterSeq: after, Limit: 1000})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// checkChain fails unless evs is a whole, intact chain: Seq 1..n, each
// PrevHash the previous Hash, each Hash its ComputeHash.
func checkChain(t *testing.T, evs []jit.AuditEvent) {
	t.Helper()
	prev := ""
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, ev.Seq, i+1)
		}
		if ev.PrevHash != prev {
			t.Fatalf("event %d: prev_hash %q, want %q", ev.Seq, ev.PrevHash, prev)
		}
		if h := ev.ComputeHash(); ev.Hash != h {
			t.Fatalf("event %d: hash %q, computed %q", ev.Seq, ev.Hash, h)
		}
		prev = ev.Hash
	}
}

func micro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

func microPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	m := micro(*t)
	return &m
}

// normRequest returns a copy of r with times at microseconds in UTC and
// empty slices (privileges' columns included) as nil, the differences
// stores may legitimately make.
func normRequest(r *jit.Request) jit.Request {
	c := *r.Clone()
	c.CreatedAt, c.UpdatedAt, c.LapsesAt = micro(c.CreatedAt), micro(c.UpdatedAt), micro(c.LapsesAt)
	c.GrantedAt, c.ExpiresAt, c.EndedAt = microPtr(c.GrantedAt), microPtr(c.ExpiresAt), microPtr(c.EndedAt)
	if len(c.RequesterGroups) == 0 {
		c.RequesterGroups = nil
	}
	if len(c.Approvers) == 0 {
		c.Approvers = nil
	}
	if len(c.Handle) == 0 {
		c.Handle = nil
	}
	if len(c.Privileges) == 0 {
		c.Privileges = nil
	}
	for i := range c.Privileges {
		if len(c.Privileges[i].Columns) == 0 {
			c.Privileges[i].Columns = nil
		}
	}
	if len(c.Approvals) == 0 {
		c.Approvals = nil
	}
	for i := range c.Approvals {
		c.Approvals[i].At = micro(c.Approvals[i].At)
	}
	return c
}

func sameRequest(t *testing.T, what string, want, got *jit.Request) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got no request, want %s", what, want.ID)
	}
	w, g := normRequest(want), normRequest(got)
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func normEvent(ev jit.AuditEvent) jit.AuditEvent {
	ev.Time = micro(ev.Time)
	if len(ev.Details) == 0 {
		ev.Details = nil
	}
	return ev
}

func ids(rs []*jit.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func jobKeys(js []jit.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.Key
	}
	return out
}

func listJobs(t *testing.T, s jit.Store) []jit.Job {
	t.Helper()
	js, err := s.ListJobs(context.Background(), "", 1000)
	if err != nil {
		t.Fatalf("ListJobs: %v", err)
	}
	return js
}

func findJob(js []jit.Job, key string) (jit.Job, bool) {
	i := slices.IndexFunc(js, func(j jit.Job) bool { return j.Key == key })
	if i < 0 {
		return jit.Job{}, false
	}
	return js[i], true
}

// runConcurrently starts n goroutines that block until all have started,
// then runs fn(i) in each at once, and returns their errors.
func runConcurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	for i := 0; i < n; i++ {
		<-done
	}
	return errs
}

func joinErrs(errs []error) error {
	var out []error
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Errorf("worker %d: %w", i, err))
		}
	}
	return errors.Join(out...)
}
