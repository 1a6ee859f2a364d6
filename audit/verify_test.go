package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/store/sqlite"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// newLog returns a store holding n chained events and the path of its file.
func newLog(t *testing.T, n int) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jit.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	evs := make([]jit.AuditEvent, n)
	actions := []string{jit.ActionSubmit, jit.ActionApprove, jit.ActionGrant, jit.ActionExpire}
	for i := range evs {
		evs[i] = jit.AuditEvent{
			Time: t0.Add(time.Duration(i) * time.Second), Actor: fmt.Sprintf("user%d@example.com", i%3),
			Action: actions[i%len(actions)], RequestID: fmt.Sprintf("req-%d", i/4), Reason: fmt.Sprintf("reason %d", i),
			Source:  jit.Source{Kind: "cli", IP: "192.0.2.1", UserAgent: "jit/1.0"},
			Details: map[string]string{"n": fmt.Sprint(i)},
		}
	}
	if err := s.Apply(context.Background(), &jit.Change{Events: evs}); err != nil {
		t.Fatal(err)
	}
	return s, path
}

// tamper edits the database file directly, as someone with write access
// to it would: the append-only triggers go first.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts = append([]string{`DROP TRIGGER IF EXISTS audit_no_update`, `DROP TRIGGER IF EXISTS audit_no_delete`}, stmts...)
	for _, q := range stmts {
		res, err := db.Exec(q)
		if err != nil {
			t.Fatalf("tamper %q: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n == 0 && !strings.HasPrefix(q, "DROP") {
			t.Fatalf("tamper %q changed no row", q)
		}
	}
}

func TestVerify(t *testing.T) {
	const n = 2500 // more than one page
	// rehash recomputes event seq's hash from its stored fields, as an
	// attacker who knows the format would after changing it.
	rehash := func(t *testing.T, s jit.Store, seq int64) string {
		evs, err := s.ListAudit(context.Background(), jit.AuditFilter{AfterSeq: seq - 1, Limit: 1})
		if err != nil || len(evs) != 1 {
			t.Fatalf("read event %d: %v", seq, err)
		}
		return fmt.Sprintf(`UPDATE audit SET hash = '%s' WHERE seq = %d`, evs[0].ComputeHash(), seq)
	}
	tests := []struct {
		name    string
		tamper  []string
		after   func(t *testing.T, s jit.Store) []string
		at      int64
		problem string
	}{
		{name: "intact"},
		{name: "reason changed", tamper: []string{`UPDATE audit SET reason = 'nothing to see' WHERE seq = 3`},
			at: 3, problem: "event 3 was changed"},
		{name: "time changed on the second page", tamper: []string{`UPDATE audit SET time = time + 1 WHERE seq = 1500`},
			at: 1500, problem: "event 1500 was changed"},
		{name: "details changed", tamper: []string{`UPDATE audit SET details = '{"n":"x"}' WHERE seq = 7`},
			at: 7, problem: "event 7 was changed"},
		{name: "middle row deleted", tamper: []string{`DELETE FROM audit WHERE seq = 1200`},
			at: 1200, problem: "event 1200 is missing"},
		{name: "first row deleted", tamper: []string{`DELETE FROM audit WHERE seq = 1`},
			at: 1, problem: "event 1 is missing"},
		{name: "two rows swapped", tamper: []string{
			// Swap every column but seq between rows 2 and 5, through a
			// spare row, which is how a reorder looks in a table keyed by seq.
			`INSERT INTO audit SELECT -1, time, actor, action, request_id, reason, source_kind, source_ip, source_ua, details, prev_hash, hash FROM audit WHERE seq = 2`,
			`UPDATE audit SET (time, actor, action, request_id, reason, source_kind, source_ip, source_ua, details, prev_hash, hash) =
				(SELECT time, actor, action, request_id, reason, source_kind, source_ip, source_ua, details, prev_hash, hash FROM audit WHERE seq = 5) WHERE seq = 2`,
			`UPDATE audit SET (time, actor, action, request_id, reason, source_kind, source_ip, source_ua, details, prev_hash, hash) =
				(SELECT time, actor, action, request_id, reason, source_kind, source_ip, source_ua, details, prev_hash, hash FROM audit WHERE seq = -1) WHERE seq = 5`,
			`DELETE FROM audit WHERE seq = -1`,
		}, at: 2, problem: "event 2 does not follow event 1"},
		{name: "last hash changed", tamper: []string{fmt.Sprintf(`UPDATE audit SET hash = '%064x' WHERE seq = %d`, 42, n)},
			at: n, problem: fmt.Sprintf("event %d was changed", n)},
		{name: "changed and rehashed", tamper: []string{`UPDATE audit SET actor = 'mallory@example.com' WHERE seq = 10`},
			after: func(t *testing.T, s jit.Store) []string { return []string{rehash(t, s, 10)} },
			at:    11, problem: "event 11 does not follow event 10"},
		{name: "first event linked elsewhere", tamper: []string{fmt.Sprintf(`UPDATE audit SET prev_hash = '%064x' WHERE seq = 1`, 7)},
			after: func(t *testing.T, s jit.Store) []string { return []string{rehash(t, s, 1)} },
			at:    1, problem: "event 1 does not start the chain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, path := newLog(t, n)
			if len(tc.tamper) > 0 {
				tamper(t, path, tc.tamper...)
			}
			if tc.after != nil {
				tamper(t, path, tc.after(t, s)...)
			}
			res, err := audit.Verify(context.Background(), s)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tc.at == 0 {
				if !res.OK || res.Checked != n || res.BrokenAt != 0 || res.Problem != "" {
					t.Fatalf("Verify = %+v, want OK with %d checked", res, n)
				}
				return
			}
			if res.OK || res.BrokenAt != tc.at || !strings.Contains(res.Problem, tc.problem) {
				t.Fatalf("Verify = %+v, want broken at %d with %q", res, tc.at, tc.problem)
			}
			if res.Checked != tc.at-1 {
				t.Fatalf("Checked = %d, want %d (the events before the break)", res.Checked, tc.at-1)
			}
		})
	}
}

func TestVerifyEmptyAndLive(t *testing.T) {
	ctx := context.Background()
	s, _ := newLog(t, 0)
	res, err := audit.Verify(ctx, s)
	if err != nil || !res.OK || res.Checked != 0 {
		t.Fatalf("Verify of an empty log = %+v, %v", res, err)
	}
	// Appending keeps the chain verifiable.
	for i := 0; i < 3; i++ {
		ev := jit.AuditEvent{Time: t0, Actor: jit.SystemActor, Action: jit.ActionPolicyReload, Source: jit.SystemSource}
		if err := s.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{ev}}); err != nil {
			t.Fatal(err)
		}
		if res, err := audit.Verify(ctx, s); err != nil || !res.OK || res.Checked != int64(i+1) {
			t.Fatalf("Verify after %d appends = %+v, %v", i+1, res, err)
		}
	}
}

func TestVerifyStoreError(t *testing.T) {
	s, _ := newLog(t, 3)
	s.Close()
	if res, err := audit.Verify(context.Background(), s); err == nil {
		t.Fatalf("Verify of a closed store = %+v, want an error", res)
	}
}

func TestExport(t *testing.T) {
	const n = 2300 // more than two pages
	ctx := context.Background()
	s, _ := newLog(t, n)
	tests := []struct {
		name      string
		since     time.Time
		wantFirst int64
	}{
		{"everything", time.Time{}, 1},
		{"since an event's time, inclusive", t0.Add(2000 * time.Second), 2001},
		{"since between events", t0.Add(1500*time.Second + time.Millisecond), 1502},
		{"since after the last", t0.Add(time.Duration(n) * time.Second), n + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			count, err := audit.Export(ctx, s, &buf, tc.since)
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			wantCount := n - int(tc.wantFirst) + 1
			if count != wantCount {
				t.Fatalf("Export returned %d, want %d", count, wantCount)
			}
			sc := bufio.NewScanner(&buf)
			lines := 0
			want := tc.wantFirst
			for sc.Scan() {
				var ev jit.AuditEvent
				dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ev); err != nil {
					t.Fatalf("line %d: %v", lines+1, err)
				}
				if ev.Seq != want {
					t.Fatalf("line %d has seq %d, want %d", lines+1, ev.Seq, want)
				}
				// Each line carries the whole event: its hash can be
				// checked from the line alone.
				if ev.Hash != ev.ComputeHash() {
					t.Fatalf("line %d: exported event does not hash to its hash", lines+1)
				}
				if ev.Time.Before(tc.since) {
					t.Fatalf("line %d: event at %v is before since %v", lines+1, ev.Time, tc.since)
				}
				want++
				lines++
			}
			if lines != count {
				t.Fatalf("%d lines, count %d", lines, count)
			}
		})
	}

	// The exported form is exactly what the store holds.
	var buf bytes.Buffer
	if _, err := audit.Export(ctx, s, &buf, t0.Add(time.Duration(n-2)*time.Second)); err != nil {
		t.Fatal(err)
	}
	stored, err := s.ListAudit(ctx, jit.AuditFilter{AfterSeq: n - 2})
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	for _, want := range stored {
		var got jit.AuditEvent
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
			t.Fatalf("time %v, want %v", got.Time, want.Time)
		}
		got.Time = want.Time
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("exported %+v\nstored %+v", got, want)
		}
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after == 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestExportWriteError(t *testing.T) {
	s, _ := newLog(t, 5)
	n, err := audit.Export(context.Background(), s, &failingWriter{after: 2}, time.Time{})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "event 3") {
		t.Fatalf("Export to a failing writer: %v", err)
	}
	if n != 2 {
		t.Fatalf("Export reported %d written, want 2", n)
	}
}

// An anchor recorded from an earlier verification exposes what the chain
// alone cannot: events deleted from the end, and a log rewritten after
// the anchor was taken.
func TestVerifyAnchored(t *testing.T) {
	ctx := context.Background()
	s, path := newLog(t, 50)
	res, err := audit.Verify(ctx, s)
	if err != nil || !res.OK || res.HeadSeq != 50 || len(res.HeadHash) != 64 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	anchor, err := audit.ParseAnchor(audit.Anchor{Seq: res.HeadSeq, Hash: res.HeadHash}.String())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := audit.VerifyAnchored(ctx, s, &anchor); err != nil || !got.OK {
		t.Fatalf("untouched log against its anchor: %+v %v", got, err)
	}
	tamper(t, path, `DELETE FROM audit WHERE seq >= 48`)
	if got, _ := audit.Verify(ctx, s); !got.OK {
		t.Fatalf("a truncated chain is intact without an anchor, got %+v", got)
	}
	got, err := audit.VerifyAnchored(ctx, s, &anchor)
	if err != nil || got.OK || got.BrokenAt != 48 || !strings.Contains(got.Problem, "missing") {
		t.Fatalf("truncation against the anchor: %+v %v", got, err)
	}

	// A log rebuilt from scratch (a different chain reaching the anchor's
	// sequence number) does not match the anchor's hash.
	other, _ := newLog(t, 50)
	if got, _ := audit.VerifyAnchored(ctx, other, &audit.Anchor{Seq: 50, Hash: strings.Repeat("0", 64)}); got.OK || got.BrokenAt != 50 {
		t.Fatalf("rewritten log against the anchor: %+v", got)
	}

	for _, bad := range []string{"", "50", "x:" + res.HeadHash, "0:" + res.HeadHash, "50:abc", "50:" + strings.ToUpper(res.HeadHash)} {
		if _, err := audit.ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", bad)
		}
	}
}
