package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func testAuditChain(t *testing.T, s jit.Store) {
	var written []jit.AuditEvent
	changes := [][]jit.AuditEvent{
		{newEvent(jit.ActionSubmit, "req-1", t0)},
		{newEvent(jit.ActionApprove, "req-1", t0.Add(time.Minute)), newEvent(jit.ActionGrantStart, "req-1", t0.Add(time.Minute))},
		{{Time: t0.Add(2 * time.Minute), Actor: jit.SystemActor, Action: jit.ActionGrant, RequestID: "req-1",
			Source: jit.SystemSource, Details: map[string]string{"expires_at": "2031-03-04T06:08:07Z", "provider": "postgres"}}},
		{{Time: t0.Add(3 * time.Minute), Actor: jit.SystemActor, Action: jit.ActionPolicyReload,
			Reason: "file changed", Source: jit.SystemSource, Details: map[string]string{}}},
		{newEvent(jit.ActionRelinquish, "req-1", t0.Add(4*time.Minute)), newEvent(jit.ActionRevokeDone, "req-1", t0.Add(4*time.Minute)),
			newEvent(jit.ActionSubmit, "req-2", t0.Add(4*time.Minute))},
	}
	for i, evs := range changes {
		c := &jit.Change{Events: slices.Clone(evs)}
		apply(t, s, c)
		for j, ev := range c.Events {
			// Apply writes the sealed values back.
			if ev.Seq != int64(len(written)+1) || ev.Hash == "" || ev.Hash != ev.ComputeHash() {
				t.Fatalf("change %d event %d not sealed: %+v", i, j, ev)
			}
			if !ev.Time.Equal(evs[j].Time.Truncate(time.Microsecond)) {
				t.Fatalf("sealed time %v, want %v", ev.Time, evs[j].Time.Truncate(time.Microsecond))
			}
			written = append(written, ev)
		}
	}
	got := allAudit(t, s)
	checkChain(t, got)
	if len(got) != len(written) {
		t.Fatalf("stored %d events, wrote %d", len(got), len(written))
	}
	for i := range got {
		if g, w := normEvent(got[i]), normEvent(written[i]); !reflect.DeepEqual(g, w) {
			t.Fatalf("stored event %d:\n got %+v\nwant %+v", i+1, g, w)
		}
	}
}

func testAuditFilters(t *testing.T, s jit.Store) {
	ev := func(actor, action, req string, at time.Duration) jit.AuditEvent {
		e := newEvent(action, req, t0.Add(at))
		e.Actor = actor
		return e
	}
	apply(t, s, &jit.Change{Events: []jit.AuditEvent{
		ev("alice@example.com", jit.ActionSubmit, "r1", 0),                      // 1
		ev("bob@example.com", jit.ActionApprove, "r1", time.Minute),             // 2
		ev("system", jit.ActionGrant, "r1", 2*time.Minute),                      // 3
		ev("alice@example.com", jit.ActionSubmit, "r2", 3*time.Minute),          // 4
		ev("bob@example.com", jit.ActionDeny, "r2", 4*time.Minute),              // 5
		ev("system", jit.ActionPolicyReload, "", 5*time.Minute),                 // 6
		ev("alice@example.com", jit.ActionRelinquish, "r1", 6*time.Minute),      // 7
		ev("system", jit.ActionRevokeDone, "r1", 6*time.Minute+time.Nanosecond), // 8
	}})
	tests := []struct {
		name string
		f    jit.AuditFilter
		want []int64
	}{
		{"all", jit.AuditFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"request", jit.AuditFilter{RequestID: "r1"}, []int64{1, 2, 3, 7, 8}},
		{"actor", jit.AuditFilter{Actor: "bob@example.com"}, []int64{2, 5}},
		{"action", jit.AuditFilter{Action: jit.ActionSubmit}, []int64{1, 4}},
		{"since is inclusive", jit.AuditFilter{Since: t0.Truncate(time.Microsecond).Add(4 * time.Minute)}, []int64{5, 6, 7, 8}},
		{"after seq", jit.AuditFilter{AfterSeq: 5}, []int64{6, 7, 8}},
		{"limit", jit.AuditFilter{Limit: 3}, []int64{1, 2, 3}},
		{"after seq and limit", jit.AuditFilter{AfterSeq: 2, Limit: 2}, []int64{3, 4}},
		{"request, actor and since", jit.AuditFilter{RequestID: "r1", Actor: "system", Since: t0.Truncate(time.Microsecond).Add(3 * time.Minute)}, []int64{8}},
		{"request and after seq", jit.AuditFilter{RequestID: "r1", AfterSeq: 3, Limit: 1}, []int64{7}},
		{"no match", jit.AuditFilter{Actor: "nobody"}, nil},
		{"after the end", jit.AuditFilter{AfterSeq: 8}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAudit(context.Background(), tc.f)
			if err != nil {
				t.Fatalf("ListAudit: %v", err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if !slices.Equal(seqs, tc.want) {
				t.Fatalf("ListAudit(%+v) = %v, want %v", tc.f, seqs, tc.want)
			}
		})
	}
	for _, f := range []jit.AuditFilter{{Limit: -1}, {AfterSeq: -1}} {
		_, err := s.ListAudit(context.Background(), f)
		wantCode(t, fmt.Sprintf("ListAudit(%+v)", f), err, jit.ECodeInvalid)
	}
}

func testAuditLimits(t *testing.T, s jit.Store) {
	const n = 1005
	evs := make([]jit.AuditEvent, n)
	for i := range evs {
		evs[i] = newEvent(jit.ActionSubmit, fmt.Sprintf("req-%d", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	apply(t, s, &jit.Change{Events: evs})
	tests := []struct {
		limit, want int
	}{
		{0, 100},     // default
		{7, 7},       // as asked
		{1000, 1000}, // the maximum
		{5000, 1000}, // capped
	}
	for _, tc := range tests {
		got, err := s.ListAudit(context.Background(), jit.AuditFilter{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Fatalf("ListAudit(limit %d) returned %d events, want %d", tc.limit, len(got), tc.want)
		}
	}
	all := allAudit(t, s)
	if len(all) != n {
		t.Fatalf("chain has %d events, want %d", len(all), n)
	}
	checkChain(t, all)
}

// testConcurrentAppends has many writers append at once: no event is lost,
// the chain stays whole, and the events of one change stay adjacent.
func testConcurrentAppends(t *testing.T, s jit.Store) {
	const writers, perWriter = 8, 15
	errs := runConcurrently(writers, func(w int) error {
		for i := 0; i < perWriter; i++ {
			id := fmt.Sprintf("req-%d-%d", w, i)
			r := newRequest(id, fmt.Sprintf("user%d@example.com", w), "demo", jit.StatusPending, t0.Add(time.Duration(i)*time.Second))
			err := s.Apply(context.Background(), &jit.Change{
				Request: r,
				Events:  []jit.AuditEvent{newEvent(jit.ActionSubmit, id, r.CreatedAt), newEvent(jit.ActionAutoApprove, id, r.CreatedAt)},
				Enqueue: []jit.Job{jit.NewJob(jit.JobGrant, id, r.CreatedAt)},
			})
			if err != nil {
				return fmt.Errorf("apply %s: %w", id, err)
			}
		}
		return nil
	})
	if err := joinErrs(errs); err != nil {
		t.Fatal(err)
	}
	evs := allAudit(t, s)
	checkChain(t, evs)
	if len(evs) != 2*writers*perWriter {
		t.Fatalf("chain has %d events, want %d", len(evs), 2*writers*perWriter)
	}
	for i := 0; i < len(evs); i += 2 {
		if evs[i].Action != jit.ActionSubmit || evs[i+1].Action != jit.ActionAutoApprove || evs[i].RequestID != evs[i+1].RequestID {
			t.Fatalf("events %d and %d are not one change's pair: %+v %+v", evs[i].Seq, evs[i+1].Seq, evs[i], evs[i+1])
		}
	}
	if js := listJobs(t, s); len(js) != writers*perWriter {
		t.Fatalf("%d jobs, want %d", len(js), writers*perWriter)
	}
}
