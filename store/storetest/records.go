package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// RecordOpener returns a new, empty store that stamps records with clock,
// and registers closing it with t.Cleanup.
type RecordOpener func(t *testing.T, clock jit.Clock) jit.RecordStore

// RunRecords runs the conformance suite of jit.RecordStore; each subtest
// opens its own store. The store's clock is the suite's, so that
// DeleteRecords is tested against known write times.
func RunRecords(t *testing.T, open RecordOpener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s jit.RecordStore, clock *Clock)
	}{
		{"Insert", testRecordInsert},
		{"Update", testRecordUpdate},
		{"Missing", testRecordMissing},
		{"Namespaces", testRecordNamespaces},
		{"Values", testRecordValues},
		{"Limits", testRecordLimits},
		{"Delete", testDeleteRecords},
		{"ConcurrentInserts", testConcurrentRecordInserts},
		{"ConcurrentUpdates", testConcurrentRecordUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock(t0)
			tc.fn(t, open(t, clock), clock)
		})
	}
}

// Clock is a jit.Clock that reads the time it was last set to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the time the clock is set to.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set sets the clock to now.
func (c *Clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func putRecord(t *testing.T, s jit.RecordStore, ns, key, value string, rev int64) int64 {
	t.Helper()
	got, err := s.PutRecord(context.Background(), ns, key, []byte(value), rev)
	if err != nil {
		t.Fatalf("PutRecord(%s/%s, rev %d): %v", ns, key, rev, err)
	}
	return got
}

// wantRecord fails unless the record ns/key holds value at rev.
func wantRecord(t *testing.T, s jit.RecordStore, ns, key string, value []byte, rev int64) {
	t.Helper()
	got, gotRev, err := s.GetRecord(context.Background(), ns, key)
	if err != nil {
		t.Fatalf("GetRecord(%s/%s): %v", ns, key, err)
	}
	if !bytes.Equal(got, value) || gotRev != rev {
		t.Fatalf("GetRecord(%s/%s) = %q at rev %d, want %q at rev %d", ns, key, trim(got), gotRev, trim(value), rev)
	}
}

// trim shortens a value for a failure message.
func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func wantNoRecord(t *testing.T, s jit.RecordStore, ns, key string) {
	t.Helper()
	_, _, err := s.GetRecord(context.Background(), ns, key)
	wantCode(t, fmt.Sprintf("GetRecord(%s/%s)", ns, key), err, jit.ECodeNotFound)
}

func testRecordInsert(t *testing.T, s jit.RecordStore, _ *Clock) {
	ctx := context.Background()
	if rev := putRecord(t, s, "slack", "req-1", "C1/1700000000.000100", 0); rev != 1 {
		t.Fatalf("insert returned rev %d, want 1", rev)
	}
	wantRecord(t, s, "slack", "req-1", []byte("C1/1700000000.000100"), 1)
	// A second insert loses, and changes nothing.
	_, err := s.PutRecord(ctx, "slack", "req-1", []byte("other"), 0)
	wantCode(t, "insert of an existing record", err, jit.ECodeConflict)
	wantRecord(t, s, "slack", "req-1", []byte("C1/1700000000.000100"), 1)
}

func testRecordUpdate(t *testing.T, s jit.RecordStore, _ *Clock) {
	ctx := context.Background()
	putRecord(t, s, "slack", "req-1", "v1", 0)
	if rev := putRecord(t, s, "slack", "req-1", "v2", 1); rev != 2 {
		t.Fatalf("update at rev 1 returned rev %d, want 2", rev)
	}
	wantRecord(t, s, "slack", "req-1", []byte("v2"), 2)
	// Repeating the update, or writing at a revision the record never
	// had, loses and changes nothing.
	for _, rev := range []int64{1, 3, 100} {
		_, err := s.PutRecord(ctx, "slack", "req-1", []byte("stale"), rev)
		wantCode(t, fmt.Sprintf("update at rev %d", rev), err, jit.ECodeConflict)
	}
	wantRecord(t, s, "slack", "req-1", []byte("v2"), 2)
	if rev := putRecord(t, s, "slack", "req-1", "v3", 2); rev != 3 {
		t.Fatalf("update at rev 2 returned rev %d, want 3", rev)
	}
	wantRecord(t, s, "slack", "req-1", []byte("v3"), 3)
}

func testRecordMissing(t *testing.T, s jit.RecordStore, _ *Clock) {
	ctx := context.Background()
	wantNoRecord(t, s, "slack", "req-1")
	_, err := s.PutRecord(ctx, "slack", "req-1", []byte("v"), 1)
	wantCode(t, "update of a missing record", err, jit.ECodeNotFound)
	wantNoRecord(t, s, "slack", "req-1")
}

func testRecordNamespaces(t *testing.T, s jit.RecordStore, _ *Clock) {
	putRecord(t, s, "slack", "k", "in slack", 0)
	// The same key in another namespace is another record.
	if rev := putRecord(t, s, "teams", "k", "in teams", 0); rev != 1 {
		t.Fatalf("insert in a second namespace returned rev %d, want 1", rev)
	}
	putRecord(t, s, "slack", "k", "in slack, again", 1)
	wantRecord(t, s, "slack", "k", []byte("in slack, again"), 2)
	wantRecord(t, s, "teams", "k", []byte("in teams"), 1)
	// Neither namespace nor key matches by prefix or case.
	wantNoRecord(t, s, "slac", "k")
	wantNoRecord(t, s, "Slack", "k")
	wantNoRecord(t, s, "slack", "K")
}

func testRecordValues(t *testing.T, s jit.RecordStore, _ *Clock) {
	ctx := context.Background()
	binary := []byte{0, 1, 0xff, 0xfe, '\'', '"', '\\', 0}
	values := map[string][]byte{
		"binary": binary,
		"utf8":   []byte("Zürich ✓ 'quoted' \"double\""),
		"max":    bytes.Repeat([]byte{0xa5}, jit.MaxRecordValue),
	}
	for key, v := range values {
		if _, err := s.PutRecord(ctx, "ns", key, v, 0); err != nil {
			t.Fatalf("PutRecord(%s): %v", key, err)
		}
		wantRecord(t, s, "ns", key, v, 1)
	}
	// An empty value (nil or not) is a value: the record exists.
	for i, v := range [][]byte{nil, {}} {
		key := fmt.Sprintf("empty-%d", i)
		if _, err := s.PutRecord(ctx, "ns", key, v, 0); err != nil {
			t.Fatalf("PutRecord(%s): %v", key, err)
		}
		wantRecord(t, s, "ns", key, nil, 1)
	}
	// Keys and namespaces are stored as given, at their longest too.
	ns, key := strings.Repeat("n", jit.MaxRecordNamespace), strings.Repeat("k", jit.MaxRecordKey-3)+"✓"
	putRecord(t, s, ns, key, "long", 0)
	wantRecord(t, s, ns, key, []byte("long"), 1)
	putRecord(t, s, "ns", "it's a \"key\"; --", "quoted", 0)
	wantRecord(t, s, "ns", "it's a \"key\"; --", []byte("quoted"), 1)
	// The store does not keep the caller's slice: changing it after the
	// write changes nothing stored.
	buf := []byte("before")
	if _, err := s.PutRecord(ctx, "ns", "copied", buf, 0); err != nil {
		t.Fatal(err)
	}
	copy(buf, "after!")
	wantRecord(t, s, "ns", "copied", []byte("before"), 1)
}

func testRecordLimits(t *testing.T, s jit.RecordStore, _ *Clock) {
	ctx := context.Background()
	putRecord(t, s, "ns", "existing", "v", 0)
	longNS := strings.Repeat("n", jit.MaxRecordNamespace+1)
	longKey := strings.Repeat("k", jit.MaxRecordKey+1)
	tooBig := make([]byte, jit.MaxRecordValue+1)
	puts := []struct {
		name, ns, key string
		value         []byte
		rev           int64
	}{
		{"empty namespace", "", "k", nil, 0},
		{"long namespace", longNS, "k", nil, 0},
		{"empty key", "ns", "", nil, 0},
		{"long key", "ns", longKey, nil, 0},
		{"large value", "ns", "k", tooBig, 0},
		{"large value update", "ns", "existing", tooBig, 1},
		{"negative rev", "ns", "existing", []byte("x"), -1},
	}
	for _, p := range puts {
		_, err := s.PutRecord(ctx, p.ns, p.key, p.value, p.rev)
		wantCode(t, "PutRecord with "+p.name, err, jit.ECodeInvalid)
	}
	// Nothing was written.
	wantNoRecord(t, s, "ns", "k")
	wantRecord(t, s, "ns", "existing", []byte("v"), 1)

	gets := []struct{ name, ns, key string }{
		{"empty namespace", "", "k"},
		{"long namespace", longNS, "k"},
		{"empty key", "ns", ""},
		{"long key", "ns", longKey},
	}
	for _, g := range gets {
		_, _, err := s.GetRecord(ctx, g.ns, g.key)
		wantCode(t, "GetRecord with "+g.name, err, jit.ECodeInvalid)
	}

	far := t0.Add(1000 * time.Hour)
	for name, ns := range map[string]string{"empty namespace": "", "long namespace": longNS} {
		_, err := s.DeleteRecords(ctx, ns, far)
		wantCode(t, "DeleteRecords with "+name, err, jit.ECodeInvalid)
	}
	_, err := s.DeleteRecords(ctx, "ns", time.Time{})
	wantCode(t, "DeleteRecords with a zero time", err, jit.ECodeInvalid)
	wantRecord(t, s, "ns", "existing", []byte("v"), 1)
}

func deleteRecords(t *testing.T, s jit.RecordStore, ns string, before time.Time) int {
	t.Helper()
	n, err := s.DeleteRecords(context.Background(), ns, before)
	if err != nil {
		t.Fatalf("DeleteRecords(%s, %v): %v", ns, before, err)
	}
	return n
}

func testDeleteRecords(t *testing.T, s jit.RecordStore, clock *Clock) {
	ctx := context.Background()
	// t0 has a sub-microsecond part: records written at the cut-off are
	// kept whatever precision the store keeps.
	cut := t0.Add(time.Minute)
	clock.Set(t0)
	putRecord(t, s, "slack", "old", "old", 0)
	putRecord(t, s, "slack", "updated", "v1", 0)
	putRecord(t, s, "teams", "old", "other namespace", 0)
	clock.Set(cut.Add(-time.Millisecond))
	putRecord(t, s, "slack", "just-before", "v", 0)
	clock.Set(cut)
	putRecord(t, s, "slack", "at-cut", "v", 0)
	clock.Set(cut.Add(time.Minute))
	putRecord(t, s, "slack", "updated", "v2", 1)

	if n := deleteRecords(t, s, "slack", t0); n != 0 {
		t.Fatalf("DeleteRecords before the first write removed %d, want 0", n)
	}
	if n := deleteRecords(t, s, "slack", cut); n != 2 {
		t.Fatalf("DeleteRecords removed %d, want 2 (old, just-before)", n)
	}
	wantNoRecord(t, s, "slack", "old")
	wantNoRecord(t, s, "slack", "just-before")
	// Written at the cut-off, updated after it, or in another namespace:
	// kept.
	wantRecord(t, s, "slack", "at-cut", []byte("v"), 1)
	wantRecord(t, s, "slack", "updated", []byte("v2"), 2)
	wantRecord(t, s, "teams", "old", []byte("other namespace"), 1)
	if n := deleteRecords(t, s, "slack", cut); n != 0 {
		t.Fatalf("repeated DeleteRecords removed %d, want 0", n)
	}

	if n := deleteRecords(t, s, "slack", cut.Add(time.Hour)); n != 2 {
		t.Fatalf("DeleteRecords of the rest removed %d, want 2", n)
	}
	wantRecord(t, s, "teams", "old", []byte("other namespace"), 1)
	// A writer that held a deleted record learns it is gone, and can
	// start again.
	_, err := s.PutRecord(ctx, "slack", "updated", []byte("v3"), 2)
	wantCode(t, "update of a deleted record", err, jit.ECodeNotFound)
	if rev := putRecord(t, s, "slack", "updated", "new", 0); rev != 1 {
		t.Fatalf("insert after delete returned rev %d, want 1", rev)
	}
}

// winner returns the one worker whose error is nil; every other must have
// failed with ECodeConflict.
func winner(t *testing.T, what string, errs []error) int {
	t.Helper()
	w := -1
	for i, err := range errs {
		switch code := jit.ErrorCode(err); code {
		case "":
			if w >= 0 {
				t.Fatalf("%s: writers %d and %d both won", what, w, i)
			}
			w = i
		case jit.ECodeConflict:
		default:
			t.Fatalf("%s: writer %d: %v, want success or conflict", what, i, err)
		}
	}
	if w < 0 {
		t.Fatalf("%s: no writer won", what)
	}
	return w
}

func testConcurrentRecordInserts(t *testing.T, s jit.RecordStore, _ *Clock) {
	const writers = 8
	revs := make([]int64, writers)
	errs := runConcurrently(writers, func(i int) error {
		var err error
		revs[i], err = s.PutRecord(context.Background(), "slack", "req-1", fmt.Appendf(nil, "writer %d", i), 0)
		return err
	})
	w := winner(t, "concurrent inserts", errs)
	if revs[w] != 1 {
		t.Fatalf("winning insert returned rev %d, want 1", revs[w])
	}
	wantRecord(t, s, "slack", "req-1", fmt.Appendf(nil, "writer %d", w), 1)
}

// testConcurrentRecordUpdates has two writers replace a record at the same
// revision, round after round: exactly one wins each round.
func testConcurrentRecordUpdates(t *testing.T, s jit.RecordStore, _ *Clock) {
	putRecord(t, s, "slack", "req-1", "start", 0)
	const rounds = 20
	for r := int64(1); r <= rounds; r++ {
		revs := make([]int64, 2)
		errs := runConcurrently(2, func(i int) error {
			var err error
			revs[i], err = s.PutRecord(context.Background(), "slack", "req-1", fmt.Appendf(nil, "round %d writer %d", r, i), r)
			return err
		})
		w := winner(t, fmt.Sprintf("round %d", r), errs)
		if revs[w] != r+1 {
			t.Fatalf("round %d: winner returned rev %d, want %d", r, revs[w], r+1)
		}
		wantRecord(t, s, "slack", "req-1", fmt.Appendf(nil, "round %d writer %d", r, w), r+1)
	}
}

// testRecordsTwoStores has two stores on the same data (two replicas, or a
// restart) share records: each sees the other's writes, and of two writers
// at one revision, one in each store, exactly one wins.
func testRecordsTwoStores(t *testing.T, open ReopenOpener) {
	first, reopen := open(t)
	a, ok := first.(jit.RecordStore)
	if !ok {
		t.Skip("the store does not implement jit.RecordStore")
	}
	b := reopen(t).(jit.RecordStore)
	putRecord(t, a, "slack", "req-1", "from a", 0)
	wantRecord(t, b, "slack", "req-1", []byte("from a"), 1)
	_, err := b.PutRecord(context.Background(), "slack", "req-1", []byte("from b"), 0)
	wantCode(t, "insert in the second store", err, jit.ECodeConflict)
	putRecord(t, b, "slack", "req-1", "from b", 1)
	_, err = a.PutRecord(context.Background(), "slack", "req-1", []byte("stale"), 1)
	wantCode(t, "stale update in the first store", err, jit.ECodeConflict)

	stores := []jit.RecordStore{a, b}
	for r := int64(2); r < 12; r++ {
		errs := runConcurrently(2, func(i int) error {
			_, err := stores[i].PutRecord(context.Background(), "slack", "req-1", fmt.Appendf(nil, "round %d store %d", r, i), r)
			return err
		})
		w := winner(t, fmt.Sprintf("round %d", r), errs)
		for _, s := range stores {
			wantRecord(t, s, "slack", "req-1", fmt.Appendf(nil, "round %d store %d", r, w), r+1)
		}
	}

	// After a restart the record is still there, at its revision.
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c := reopen(t).(jit.RecordStore)
	v, rev, err := b.GetRecord(context.Background(), "slack", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	wantRecord(t, c, "slack", "req-1", v, rev)
	if rev != 12 {
		t.Fatalf("record at rev %d after reopen, want 12", rev)
	}
}
