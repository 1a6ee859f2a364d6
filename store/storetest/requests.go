package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func testRequestRoundTrip(t *testing.T, s jit.Store) {
	granted := t0.Add(time.Minute)
	expires := t0.Add(time.Hour + 500*time.Nanosecond)
	ended := t0.Add(30 * time.Minute)
	full := &jit.Request{
		ID: "req-full", Requester: "alice@example.com", Resource: "prod-db", Access: "admin",
		Duration: 90*time.Minute + 7*time.Nanosecond, Reason: "INC-42: disk full", ExtendsID: "req-prev",
		RequesterGroups: []string{"eng", "oncall"}, Approvers: []string{"group:sre", "user:bob@example.com"},
		Status: jit.StatusRevoking, Rule: "prod-admin", ApprovalsRequired: 2, AutoApproved: true,
		CreatedAt: t0, UpdatedAt: t0.Add(time.Second), LapsesAt: t0.Add(24 * time.Hour),
		GrantedAt: &granted, ExpiresAt: &expires, EndedAt: &ended,
		EndedBy: "carol@example.com", EndReason: "done early", EndStatus: jit.StatusRevoked,
		Handle: []byte(`{"role":"jit_alice_1"}`),
	}
	bare := newRequest("req-bare", "bob@example.com", "demo", jit.StatusPending, t0)
	bare.Approvers, bare.LapsesAt, bare.UpdatedAt = nil, time.Time{}, time.Time{}

	for _, r := range []*jit.Request{full, bare} {
		t.Run(r.ID, func(t *testing.T) {
			want := r.Clone()
			c := &jit.Change{Request: r}
			apply(t, s, c)
			if r.Version != 1 {
				t.Fatalf("Version after insert = %d, want 1", r.Version)
			}
			want.Version = 1
			got := get(t, s, r.ID)
			sameRequest(t, "GetRequest", want, got)
			// Times are kept at microseconds, in UTC.
			if !got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || got.CreatedAt.Location() != time.UTC {
				t.Fatalf("CreatedAt = %v, want %v in UTC", got.CreatedAt, t0.Truncate(time.Microsecond))
			}
			if r.ExpiresAt != nil && !got.ExpiresAt.Equal(expires.Truncate(time.Microsecond)) {
				t.Fatalf("ExpiresAt = %v, want %v", got.ExpiresAt, expires.Truncate(time.Microsecond))
			}
			if got.Duration != r.Duration {
				t.Fatalf("Duration = %v, want %v", got.Duration, r.Duration)
			}
			if !r.LapsesAt.IsZero() || !got.LapsesAt.IsZero() {
				if !got.LapsesAt.Equal(micro(r.LapsesAt)) {
					t.Fatalf("LapsesAt = %v, want %v", got.LapsesAt, r.LapsesAt)
				}
			}
		})
	}
}

func testGetMissing(t *testing.T, s jit.Store) {
	_, err := s.GetRequest(context.Background(), "req-nope")
	wantCode(t, "GetRequest of a missing request", err, jit.ECodeNotFound)
}

func testInsertExisting(t *testing.T, s jit.Store) {
	ctx := context.Background()
	insert(t, s, newRequest("req-1", "alice@example.com", "demo", jit.StatusPending, t0))
	again := newRequest("req-1", "mallory@example.com", "prod", jit.StatusActive, t0.Add(time.Minute))
	c := &jit.Change{
		Request: again,
		Events:  []jit.AuditEvent{newEvent(jit.ActionSubmit, "req-1", t0.Add(time.Minute))},
		Enqueue: []jit.Job{jit.NewJob(jit.JobGrant, "req-1", t0)},
	}
	wantCode(t, "insert of an existing ID", s.Apply(ctx, c), jit.ECodeConflict)
	if again.Version != 0 || c.Events[0].Seq != 0 {
		t.Fatalf("failed Apply changed its input: version %d, seq %d", again.Version, c.Events[0].Seq)
	}
	if got := get(t, s, "req-1"); got.Requester != "alice@example.com" {
		t.Fatalf("stored request overwritten: requester %s", got.Requester)
	}
	if evs := allAudit(t, s); len(evs) != 1 {
		t.Fatalf("audit has %d events, want 1 (the loser's event must not be written)", len(evs))
	}
	if js := listJobs(t, s); len(js) != 0 {
		t.Fatalf("jobs %v written by a failed Apply", jobKeys(js))
	}
}

func testUpdateVersion(t *testing.T, s jit.Store) {
	ctx := context.Background()
	r := newRequest("req-1", "alice@example.com", "demo", jit.StatusApproved, t0)
	insert(t, s, r)
	apply(t, s, &jit.Change{Enqueue: []jit.Job{jit.NewJob(jit.JobGrant, r.ID, t0)}})
	stale := r.Clone()

	// The winner: grants the request.
	upd := r.Clone()
	granted := t0.Add(time.Minute)
	expires := granted.Add(time.Hour)
	upd.Status, upd.GrantedAt, upd.ExpiresAt = jit.StatusActive, &granted, &expires
	upd.Handle = []byte(`{"user":"a"}`)
	upd.UpdatedAt = granted
	apply(t, s, &jit.Change{
		Request:    upd,
		Events:     []jit.AuditEvent{newEvent(jit.ActionGrant, r.ID, granted)},
		DeleteJobs: []string{jit.JobKey(jit.JobGrant, r.ID)},
		Enqueue:    []jit.Job{jit.NewJob(jit.JobRevoke, r.ID, expires)},
	})
	if upd.Version != 2 {
		t.Fatalf("Version after update = %d, want 2", upd.Version)
	}
	sameRequest(t, "after update", upd, get(t, s, r.ID))

	// The loser read version 1 too. Every part of its change must be
	// dropped: request, approval, events, job deletes and enqueues, token.
	stale.Status = jit.StatusDenied
	_, hash, err := jit.NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	c := &jit.Change{
		Request:    stale,
		Approval:   &jit.Approval{RequestID: r.ID, Approver: "bob@example.com", Approved: false, At: t0},
		Events:     []jit.AuditEvent{newEvent(jit.ActionDeny, r.ID, t0.Add(2*time.Minute))},
		DeleteJobs: []string{jit.JobKey(jit.JobRevoke, r.ID)},
		Enqueue:    []jit.Job{jit.NewJob(jit.JobLapse, r.ID, t0)},
		Token:      &jit.Token{ID: "tok-1", Email: "bob@example.com", Name: "ci", Hash: hash, CreatedAt: t0},
	}
	wantCode(t, "stale update", s.Apply(ctx, c), jit.ECodeConflict)
	if stale.Version != 1 || c.Events[0].Seq != 0 || c.Events[0].Hash != "" {
		t.Fatalf("failed Apply changed its input: version %d, event %+v", stale.Version, c.Events[0])
	}
	got := get(t, s, r.ID)
	sameRequest(t, "after conflict", upd, got)
	if len(got.Approvals) != 0 {
		t.Fatalf("loser's approval written: %+v", got.Approvals)
	}
	if evs := allAudit(t, s); len(evs) != 2 {
		t.Fatalf("audit has %d events, want 2", len(evs))
	}
	if keys := jobKeys(listJobs(t, s)); !slices.Equal(keys, []string{jit.JobKey(jit.JobRevoke, r.ID)}) {
		t.Fatalf("jobs = %v, want only the winner's revoke job", keys)
	}
	if _, err := s.TokenByHash(ctx, hash); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("loser's token written (err %v)", err)
	}

	// A following change from the fresh version succeeds.
	upd.Status = jit.StatusRevoking
	apply(t, s, &jit.Change{Request: upd})
	if upd.Version != 3 {
		t.Fatalf("Version = %d, want 3", upd.Version)
	}
}

func testUpdateMissing(t *testing.T, s jit.Store) {
	r := newRequest("req-ghost", "alice@example.com", "demo", jit.StatusActive, t0)
	r.Version = 3
	c := &jit.Change{Request: r, Events: []jit.AuditEvent{newEvent(jit.ActionExpire, r.ID, t0)}}
	wantCode(t, "update of a missing request", s.Apply(context.Background(), c), jit.ECodeNotFound)
	if evs := allAudit(t, s); len(evs) != 0 {
		t.Fatalf("audit has %d events after a failed Apply", len(evs))
	}
}

// testUpdateFixedFields holds invariant 1: what was asked for never changes
// after submit, because an approval is bound to it.
func testUpdateFixedFields(t *testing.T, s jit.Store) {
	tests := []struct {
		field, what string
		change      func(r *jit.Request)
	}{
		{"requester", "", func(r *jit.Request) { r.Requester = "mallory@example.com" }},
		{"resource", "", func(r *jit.Request) { r.Resource = "prod" }},
		{"access", "", func(r *jit.Request) { r.Access = "admin" }},
		{"duration", "", func(r *jit.Request) { r.Duration = 8 * time.Hour }},
		{"reason", "", func(r *jit.Request) { r.Reason = "something else" }},
		{"extends_id", "", func(r *jit.Request) { r.ExtendsID = "req-other" }},
		{"query", "other", func(r *jit.Request) { r.Query = "DELETE FROM public.orders" }},
		{"query", "cleared", func(r *jit.Request) { r.Query = "" }},
		{"query", "trailing space", func(r *jit.Request) { r.Query += " " }},
		{"privileges", "cleared", func(r *jit.Request) { r.Privileges = nil }},
		{"privileges", "one dropped", func(r *jit.Request) { r.Privileges = r.Privileges[:1] }},
		{"privileges", "one added", func(r *jit.Request) {
			r.Privileges = append(r.Privileges, jit.Privilege{Action: "DELETE", Schema: "public", Table: "orders"})
		}},
		{"privileges", "action", func(r *jit.Request) { r.Privileges[0].Action = "DELETE" }},
		{"privileges", "schema", func(r *jit.Request) { r.Privileges[0].Schema = "private" }},
		{"privileges", "table", func(r *jit.Request) { r.Privileges[1].Table = "payments" }},
		{"privileges", "column added", func(r *jit.Request) { r.Privileges[0].Columns = append(r.Privileges[0].Columns, "id") }},
		{"privileges", "columns cleared", func(r *jit.Request) { r.Privileges[0].Columns = nil }},
		{"privileges", "whole table narrowed", func(r *jit.Request) { r.Privileges[1].Columns = []string{"total"} }},
		{"privileges", "reordered", func(r *jit.Request) { r.Privileges[0], r.Privileges[1] = r.Privileges[1], r.Privileges[0] }},
	}
	r := newRequest("req-1", "alice@example.com", "demo", jit.StatusPending, t0)
	r.Query = "UPDATE public.orders SET total = 0 WHERE id = 7"
	r.Privileges = []jit.Privilege{
		{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}},
		{Action: "SELECT", Schema: "public", Table: "orders"},
	}
	insert(t, s, r)
	want := get(t, s, r.ID)
	for _, tc := range tests {
		t.Run(strings.TrimSpace(tc.field+" "+tc.what), func(t *testing.T) {
			upd := r.Clone()
			upd.Status = jit.StatusApproved
			tc.change(upd)
			c := &jit.Change{Request: upd, Events: []jit.AuditEvent{newEvent(jit.ActionApprove, r.ID, t0)}}
			err := s.Apply(context.Background(), c)
			wantCode(t, "update of "+tc.field, err, jit.ECodeInvalid)
			wantField(t, "update of "+tc.field, err, tc.field)
			sameRequest(t, "after refused update", want, get(t, s, r.ID))
			if evs := allAudit(t, s); len(evs) != 1 {
				t.Fatalf("audit has %d events, want 1", len(evs))
			}
		})
	}
	// The same update with every fixed field as stored goes through (the
	// refusals above were about the field each case changed), also when
	// it reads the privileges back from the store rather than reusing
	// the submitted ones.
	upd := want.Clone()
	upd.Status = jit.StatusApproved
	apply(t, s, &jit.Change{Request: upd, Events: []jit.AuditEvent{newEvent(jit.ActionApprove, r.ID, t0)}})
	if upd.Version != 2 {
		t.Fatalf("Version after update = %d, want 2", upd.Version)
	}
	sameRequest(t, "after update", upd, get(t, s, r.ID))
}

func testInvalidChange(t *testing.T, s jit.Store) {
	valid := func() *jit.Change {
		return &jit.Change{
			Request: newRequest("req-x", "alice@example.com", "demo", jit.StatusPending, t0),
			Events:  []jit.AuditEvent{newEvent(jit.ActionSubmit, "req-x", t0)},
			Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "req-x", t0.Add(time.Hour))},
		}
	}
	tests := []struct {
		name   string
		change func() *jit.Change
	}{
		{"nil change", func() *jit.Change { return nil }},
		{"request without ID", func() *jit.Change { c := valid(); c.Request.ID = ""; return c }},
		{"request without requester", func() *jit.Change { c := valid(); c.Request.Requester = ""; return c }},
		{"unknown status", func() *jit.Change { c := valid(); c.Request.Status = "sleeping"; return c }},
		{"unknown end status", func() *jit.Change { c := valid(); c.Request.EndStatus = "gone"; return c }},
		{"no creation time", func() *jit.Change { c := valid(); c.Request.CreatedAt = time.Time{}; return c }},
		{"negative version", func() *jit.Change { c := valid(); c.Request.Version = -1; return c }},
		{"event without action", func() *jit.Change { c := valid(); c.Events[0].Action = ""; return c }},
		{"event without actor", func() *jit.Change { c := valid(); c.Events[0].Actor = ""; return c }},
		{"event without time", func() *jit.Change { c := valid(); c.Events[0].Time = time.Time{}; return c }},
		{"job without key", func() *jit.Change { c := valid(); c.Enqueue[0].Key = ""; return c }},
		{"job without run time", func() *jit.Change { c := valid(); c.Enqueue[0].RunAt = time.Time{}; return c }},
		{"empty job key to delete", func() *jit.Change { c := valid(); c.DeleteJobs = []string{""}; return c }},
		{"approval without approver", func() *jit.Change {
			c := valid()
			c.Approval = &jit.Approval{RequestID: "req-x", Approved: true, At: t0}
			return c
		}},
		{"plain token", func() *jit.Change {
			c := valid()
			plain, _, err := jit.NewTokenSecret()
			if err != nil {
				t.Fatal(err)
			}
			c.Token = &jit.Token{ID: "tok", Email: "alice@example.com", Hash: plain}
			return c
		}},
		{"token hash in upper case", func() *jit.Change {
			c := valid()
			c.Token = &jit.Token{ID: "tok", Email: "alice@example.com", Hash: fmt.Sprintf("%064X", 0xabc)}
			return c
		}},
		{"public key without email", func() *jit.Change {
			c := valid()
			c.PublicKey = newPublicKey("", 1, t0)
			return c
		}},
		{"empty public key", func() *jit.Change {
			c := valid()
			c.PublicKey = newPublicKey("alice@example.com", 1, t0)
			c.PublicKey.Key = ""
			return c
		}},
		{"public key without time", func() *jit.Change {
			c := valid()
			c.PublicKey = newPublicKey("alice@example.com", 1, time.Time{})
			return c
		}},
		{"credential without request ID", func() *jit.Change {
			c := valid()
			c.Credential = newCredential("", 1, t0)
			return c
		}},
		{"credential without recipient", func() *jit.Change {
			c := valid()
			c.Credential = newCredential("req-x", 1, t0)
			c.Credential.Recipient = ""
			return c
		}},
		{"credential without envelope", func() *jit.Change {
			c := valid()
			c.Credential = newCredential("req-x", 1, t0)
			c.Credential.Envelope = ""
			return c
		}},
		{"plain-text credential", func() *jit.Change {
			c := valid()
			c.Credential = newCredential("req-x", 1, t0)
			c.Credential.Envelope = `{"kind":"password","secret":"hunter2"}`
			return c
		}},
		{"credential without time", func() *jit.Change {
			c := valid()
			c.Credential = newCredential("req-x", 1, time.Time{})
			return c
		}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, s.Apply(ctx, tc.change()), jit.ECodeInvalid)
			if evs := allAudit(t, s); len(evs) != 0 {
				t.Fatalf("audit has %d events after a refused change", len(evs))
			}
			if js := listJobs(t, s); len(js) != 0 {
				t.Fatalf("jobs %v after a refused change", jobKeys(js))
			}
			if rs, err := s.ListRequests(ctx, jit.RequestFilter{}); err != nil || len(rs) != 0 {
				t.Fatalf("requests %v (err %v) after a refused change", ids(rs), err)
			}
			_, err := s.PublicKey(ctx, "alice@example.com")
			wantCode(t, "public key after a refused change", err, jit.ECodeNotFound)
			_, err = s.Credential(ctx, "req-x")
			wantCode(t, "credential after a refused change", err, jit.ECodeNotFound)
		})
	}
	// The same change, made valid, goes through: the refusals above were
	// about the field each case broke.
	apply(t, s, valid())
}

func testApprovals(t *testing.T, s jit.Store) {
	ctx := context.Background()
	r := newRequest("req-1", "alice@example.com", "demo", jit.StatusPending, t0)
	insert(t, s, r)
	// Recorded out of time order: reads return them by time.
	later := jit.Approval{RequestID: r.ID, Approver: "bob@example.com", Approved: true, Comment: "ok", At: t0.Add(2 * time.Minute)}
	earlier := jit.Approval{RequestID: r.ID, Approver: "carol@example.com", Approved: false, At: t0.Add(time.Minute)}
	apply(t, s, &jit.Change{Request: r, Approval: &later})
	apply(t, s, &jit.Change{Request: r, Approval: &earlier})
	want := []jit.Approval{earlier, later}
	for i := range want {
		want[i].At = micro(want[i].At)
	}
	check := func(what string, got *jit.Request) {
		t.Helper()
		if got == nil {
			t.Fatalf("%s: no request", what)
		}
		for i := range got.Approvals {
			got.Approvals[i].At = micro(got.Approvals[i].At)
		}
		if !slices.Equal(got.Approvals, want) {
			t.Fatalf("%s: approvals %+v, want %+v", what, got.Approvals, want)
		}
	}
	check("GetRequest", get(t, s, r.ID))
	list, err := s.ListRequests(ctx, jit.RequestFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListRequests = %v, %v", ids(list), err)
	}
	check("ListRequests", list[0])

	expires := t0.Add(time.Hour)
	r.Status, r.ExpiresAt = jit.StatusActive, &expires
	apply(t, s, &jit.Change{Request: r})
	active, err := s.FindActive(ctx, r.Requester, r.Resource, t0)
	if err != nil {
		t.Fatal(err)
	}
	check("FindActive", active)

	// An approval of a request that does not exist is refused whole.
	c := &jit.Change{
		Approval: &jit.Approval{RequestID: "req-ghost", Approver: "bob@example.com", Approved: true, At: t0},
		Events:   []jit.AuditEvent{newEvent(jit.ActionApprove, "req-ghost", t0)},
	}
	wantCode(t, "approval of a missing request", s.Apply(ctx, c), jit.ECodeNotFound)
	if evs := allAudit(t, s); len(evs) != 1 {
		t.Fatalf("audit has %d events, want 1", len(evs))
	}
}

// listFixture stores requests with known order: newest first is
// r7, r6, r5 (r5 and r6 share a creation time; r6 wins on ID), r4, r3, r2, r1.
func listFixture(t *testing.T, s jit.Store) {
	t.Helper()
	exp := func(d time.Duration) *time.Time { e := t0.Add(d); return &e }
	rs := []*jit.Request{
		newRequest("r1", "alice@example.com", "demo", jit.StatusExpired, t0),
		newRequest("r2", "bob@example.com", "demo", jit.StatusActive, t0.Add(1*time.Minute)),
		newRequest("r3", "alice@example.com", "prod", jit.StatusActive, t0.Add(2*time.Minute)),
		newRequest("r4", "alice@example.com", "demo", jit.StatusPending, t0.Add(3*time.Minute)),
		newRequest("r5", "bob@example.com", "prod", jit.StatusDenied, t0.Add(4*time.Minute)),
		newRequest("r6", "alice@example.com", "demo", jit.StatusActive, t0.Add(4*time.Minute)),
		newRequest("r7", "carol@example.com", "demo", jit.StatusPending, t0.Add(5*time.Minute)),
	}
	rs[0].ExpiresAt = exp(30 * time.Minute)
	rs[1].ExpiresAt = exp(2 * time.Hour)
	rs[2].ExpiresAt = exp(1 * time.Hour)
	rs[5].ExpiresAt = exp(3 * time.Hour)
	rs[3].ExtendsID = "r3" // r4 and r6 extend r3
	rs[5].ExtendsID = "r3"
	insert(t, s, rs...)
}

func testListRequests(t *testing.T, s jit.Store) {
	listFixture(t, s)
	before := func(d time.Duration) *time.Time { e := t0.Add(d); return &e }
	tests := []struct {
		name string
		f    jit.RequestFilter
		want []string
	}{
		{"all newest first", jit.RequestFilter{}, []string{"r7", "r6", "r5", "r4", "r3", "r2", "r1"}},
		{"requester", jit.RequestFilter{Requester: "alice@example.com"}, []string{"r6", "r4", "r3", "r1"}},
		{"resource", jit.RequestFilter{Resource: "prod"}, []string{"r5", "r3"}},
		{"one status", jit.RequestFilter{Statuses: []jit.Status{jit.StatusPending}}, []string{"r7", "r4"}},
		{"two statuses", jit.RequestFilter{Statuses: []jit.Status{jit.StatusActive, jit.StatusDenied}}, []string{"r6", "r5", "r3", "r2"}},
		{"requester, resource and status", jit.RequestFilter{Requester: "alice@example.com", Resource: "demo", Statuses: []jit.Status{jit.StatusActive}}, []string{"r6"}},
		{"expires before", jit.RequestFilter{ExpiresBefore: before(2 * time.Hour)}, []string{"r3", "r1"}},
		{"extensions", jit.RequestFilter{ExtendsID: "r3"}, []string{"r6", "r4"}},
		{"extensions, pending", jit.RequestFilter{ExtendsID: "r3", Statuses: []jit.Status{jit.StatusPending}}, []string{"r4"}},
		{"extensions of a request without any", jit.RequestFilter{ExtendsID: "r6"}, nil},
		{"expires after", jit.RequestFilter{ExpiresAfter: before(1 * time.Hour)}, []string{"r6", "r2"}},
		{"expires between", jit.RequestFilter{ExpiresAfter: before(30 * time.Minute), ExpiresBefore: before(3 * time.Hour)}, []string{"r3", "r2"}},
		{"expires before, active", jit.RequestFilter{ExpiresBefore: before(4 * time.Hour), Statuses: []jit.Status{jit.StatusActive}}, []string{"r6", "r3", "r2"}},
		{"limit", jit.RequestFilter{Limit: 3}, []string{"r7", "r6", "r5"}},
		{"after", jit.RequestFilter{After: "r6", Limit: 2}, []string{"r5", "r4"}},
		{"after, filtered", jit.RequestFilter{Requester: "alice@example.com", After: "r4"}, []string{"r3", "r1"}},
		{"after the last", jit.RequestFilter{After: "r1"}, nil},
		{"no match", jit.RequestFilter{Requester: "nobody@example.com"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListRequests(context.Background(), tc.f)
			if err != nil {
				t.Fatalf("ListRequests: %v", err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("ListRequests(%+v) = %v, want %v", tc.f, ids(got), tc.want)
			}
		})
	}
}

func testListRequestsPaging(t *testing.T, s jit.Store) {
	ctx := context.Background()
	// 60 requests, in groups of three sharing a creation time, so that pages
	// break inside groups.
	var want []string
	var rs []*jit.Request
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("req-%02d", i)
		rs = append(rs, newRequest(id, "alice@example.com", "demo", jit.StatusPending, t0.Add(time.Duration(i/3)*time.Second)))
	}
	// Insert in an order unrelated to time, so that insertion order cannot
	// stand in for the ordering.
	for i := 0; i < 60; i++ {
		insert(t, s, rs[(i*7)%60])
	}
	for i := 59; i >= 0; i-- {
		want = append(want, rs[i].ID)
	}

	first, err := s.ListRequests(ctx, jit.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 50 {
		t.Fatalf("default page has %d requests, want 50", len(first))
	}
	for _, size := range []int{1, 4, 7, 50, 100} {
		t.Run(fmt.Sprint("page size ", size), func(t *testing.T) {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > 60 {
					t.Fatal("paging does not end")
				}
				page, err := s.ListRequests(ctx, jit.RequestFilter{After: after, Limit: size})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size {
					t.Fatalf("page of %d for limit %d", len(page), size)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, ids(page)...)
				after = page[len(page)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pages = %v\nwant %v", got, want)
			}
		})
	}
}

func testListRequestsBadInput(t *testing.T, s jit.Store) {
	insert(t, s, newRequest("r1", "alice@example.com", "demo", jit.StatusPending, t0))
	tests := []struct {
		name string
		f    jit.RequestFilter
	}{
		{"negative limit", jit.RequestFilter{Limit: -1}},
		{"unknown status", jit.RequestFilter{Statuses: []jit.Status{"sleeping"}}},
		{"unknown cursor", jit.RequestFilter{After: "req-nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ListRequests(context.Background(), tc.f)
			wantCode(t, tc.name, err, jit.ECodeInvalid)
		})
	}
}

func testFindActive(t *testing.T, s jit.Store) {
	now := t0.Add(time.Hour)
	at := func(d time.Duration) *time.Time { e := now.Add(d); return &e }
	mk := func(id, requester, resource string, st jit.Status, created time.Duration, expires *time.Time) *jit.Request {
		r := newRequest(id, requester, resource, st, t0.Add(created))
		r.ExpiresAt = expires
		return r
	}
	insert(t, s,
		mk("old-active", "alice@example.com", "demo", jit.StatusActive, 0, at(time.Hour)),
		mk("new-active", "alice@example.com", "demo", jit.StatusActive, time.Minute, at(30*time.Minute)),
		mk("newer-expired", "alice@example.com", "demo", jit.StatusActive, 2*time.Minute, at(-time.Second)),
		mk("newer-at-now", "alice@example.com", "demo", jit.StatusActive, 2*time.Minute, at(0)),
		mk("newest-revoking", "alice@example.com", "demo", jit.StatusRevoking, 3*time.Minute, at(time.Hour)),
		mk("newest-pending", "alice@example.com", "demo", jit.StatusPending, 4*time.Minute, nil),
		mk("only-expired", "alice@example.com", "prod", jit.StatusActive, 0, at(-time.Minute)),
		mk("only-granting", "alice@example.com", "stage", jit.StatusGranting, 0, at(time.Hour)),
		mk("bobs", "bob@example.com", "prod", jit.StatusActive, 0, at(time.Hour)),
	)
	tests := []struct {
		requester, resource string
		want                string
	}{
		{"alice@example.com", "demo", "new-active"},
		{"alice@example.com", "prod", ""},
		{"alice@example.com", "stage", ""},
		{"bob@example.com", "prod", "bobs"},
		{"bob@example.com", "demo", ""},
		{"carol@example.com", "demo", ""},
	}
	for _, tc := range tests {
		t.Run(tc.requester+" "+tc.resource, func(t *testing.T) {
			got, err := s.FindActive(context.Background(), tc.requester, tc.resource, now)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("FindActive = %s, want none", got.ID)
			case tc.want != "" && (got == nil || got.ID != tc.want):
				t.Fatalf("FindActive = %v, want %s", got, tc.want)
			}
		})
	}
}

func testCountRequests(t *testing.T, s jit.Store) {
	ctx := context.Background()
	counts, err := s.CountRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for st, n := range counts {
		if n != 0 {
			t.Fatalf("empty store counts %d %s", n, st)
		}
	}
	listFixture(t, s)
	counts, err = s.CountRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[jit.Status]int{jit.StatusExpired: 1, jit.StatusActive: 3, jit.StatusPending: 2, jit.StatusDenied: 1}
	for _, st := range jit.AllStatuses {
		if counts[st] != want[st] {
			t.Fatalf("count of %s = %d, want %d (all: %v)", st, counts[st], want[st], counts)
		}
	}
	// Moving a request moves its count.
	r := get(t, s, "r4")
	r.Status = jit.StatusCancelled
	apply(t, s, &jit.Change{Request: r})
	counts, err = s.CountRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[jit.StatusPending] != 1 || counts[jit.StatusCancelled] != 1 {
		t.Fatalf("after cancel: pending %d cancelled %d, want 1 and 1", counts[jit.StatusPending], counts[jit.StatusCancelled])
	}
}

// testConcurrentUpdates races writers that all read version 1: exactly one
// wins and only its events and jobs are written.
func testConcurrentUpdates(t *testing.T, s jit.Store) {
	const writers = 8
	r := newRequest("req-1", "alice@example.com", "demo", jit.StatusPending, t0)
	insert(t, s, r)
	errs := runConcurrently(writers, func(i int) error {
		upd := r.Clone()
		upd.Status = jit.StatusApproved
		upd.EndedBy = fmt.Sprintf("approver-%d@example.com", i)
		return s.Apply(context.Background(), &jit.Change{
			Request: upd,
			Events:  []jit.AuditEvent{newEvent(jit.ActionApprove, r.ID, t0.Add(time.Duration(i)*time.Second))},
			Enqueue: []jit.Job{{Key: fmt.Sprintf("grant:%d", i), Kind: jit.JobGrant, RequestID: r.ID, RunAt: t0}},
		})
	})
	winner := -1
	for i, err := range errs {
		switch code := jit.ErrorCode(err); code {
		case "":
			if winner >= 0 {
				t.Fatalf("writers %d and %d both won", winner, i)
			}
			winner = i
		case jit.ECodeConflict:
		default:
			t.Fatalf("writer %d: %v, want success or conflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got := get(t, s, r.ID)
	if got.Version != 2 || got.EndedBy != fmt.Sprintf("approver-%d@example.com", winner) {
		t.Fatalf("stored version %d by %q, want version 2 by writer %d", got.Version, got.EndedBy, winner)
	}
	evs := allAudit(t, s)
	checkChain(t, evs)
	if len(evs) != 2 || !evs[1].Time.Equal(micro(t0.Add(time.Duration(winner)*time.Second))) {
		t.Fatalf("audit = %+v, want the submit and the winner's approve", evs)
	}
	if keys := jobKeys(listJobs(t, s)); !slices.Equal(keys, []string{fmt.Sprintf("grant:%d", winner)}) {
		t.Fatalf("jobs = %v, want only the winner's", keys)
	}
}

// testConcurrentMixedChanges races changes that succeed with changes that
// fail (a request ID many writers insert, approvals of requests that do not
// exist). Each change stands alone whatever runs beside it: a failure
// writes nothing and leaves its events unsealed, every success is stored
// with its events sealed, and the chain holds exactly the successes'
// events.
func testConcurrentMixedChanges(t *testing.T, s jit.Store) {
	const writers = 30
	changes := make([]*jit.Change, writers)
	for i := range changes {
		at := t0.Add(time.Duration(i) * time.Second)
		switch i % 3 {
		case 0: // a new request: succeeds
			id := fmt.Sprintf("req-%d", i)
			changes[i] = &jit.Change{Request: newRequest(id, "alice@example.com", "demo", jit.StatusPending, at),
				Events: []jit.AuditEvent{newEvent(jit.ActionSubmit, id, at)}}
		case 1: // the same request ID: exactly one of these succeeds
			changes[i] = &jit.Change{Request: newRequest("shared", "bob@example.com", "demo", jit.StatusPending, at),
				Events: []jit.AuditEvent{newEvent(jit.ActionSubmit, "shared", at)}}
		case 2: // an approval of a missing request: fails
			id := fmt.Sprintf("missing-%d", i)
			changes[i] = &jit.Change{
				Approval: &jit.Approval{RequestID: id, Approver: "carol@example.com", Approved: true, At: at},
				Events:   []jit.AuditEvent{newEvent(jit.ActionApprove, id, at)},
			}
		}
	}
	errs := runConcurrently(writers, func(i int) error { return s.Apply(context.Background(), changes[i]) })
	sealed := map[int64]string{}
	sharedWinners := 0
	for i, err := range errs {
		code := jit.ErrorCode(err)
		switch {
		case i%3 == 0 && err != nil:
			t.Fatalf("change %d: %v, want success", i, err)
		case i%3 == 1 && err == nil:
			sharedWinners++
		case i%3 == 1 && code != jit.ECodeConflict:
			t.Fatalf("change %d: %v, want success or conflict", i, err)
		case i%3 == 2 && code != jit.ECodeNotFound:
			t.Fatalf("change %d: %v, want not found", i, err)
		}
		ev := changes[i].Events[0]
		if err != nil {
			if ev.Seq != 0 || ev.Hash != "" {
				t.Fatalf("failed change %d has its event sealed: %+v", i, ev)
			}
			continue
		}
		if ev.Seq <= 0 || sealed[ev.Seq] != "" {
			t.Fatalf("change %d: event sealed at seq %d (already taken by %q)", i, ev.Seq, sealed[ev.Seq])
		}
		sealed[ev.Seq] = ev.Hash
	}
	if sharedWinners != 1 {
		t.Fatalf("%d writers inserted the shared request, want 1", sharedWinners)
	}
	evs := allAudit(t, s)
	checkChain(t, evs)
	if len(evs) != len(sealed) {
		t.Fatalf("chain has %d events, want the %d of the successful changes", len(evs), len(sealed))
	}
	for _, ev := range evs {
		if sealed[ev.Seq] != ev.Hash {
			t.Fatalf("stored event %d has hash %s, its change was told %q", ev.Seq, ev.Hash, sealed[ev.Seq])
		}
	}
	list, err := s.ListRequests(context.Background(), jit.RequestFilter{Limit: writers})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != writers/3+1 {
		t.Fatalf("%d requests stored, want %d", len(list), writers/3+1)
	}
}
