package audit

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jitaccess/jit"
)

// pageSize is how many events Verify and Export read at a time; memory use
// is bounded by one page whatever the length of the log.
const pageSize = 1000

// Verify walks the whole audit chain from seq 1 and checks that every event
// is present (seq contiguous), follows the one before it (its PrevHash is
// that event's Hash) and is unchanged (its Hash is its ComputeHash). It
// stops at the first break: Result.OK is false, BrokenAt is the seq where
// the chain breaks, Problem says what is wrong, and Checked counts the
// events verified before it.
//
// What a break means:
//   - "event N is missing": seq N was expected and the next stored event has
//     a higher seq (a row was deleted).
//   - "event N does not follow event N-1": the link to the previous event is
//     wrong (events were reordered or replaced, or event N-1 was changed and
//     its hash recomputed).
//   - "event N was changed": the event's contents do not match its hash.
//
// Deleting events from the end of the log leaves a shorter, intact chain;
// only something kept elsewhere can show that: an Anchor recorded from an
// earlier Result (see VerifyAnchored) or an exported copy (see Export).
// Verify only reads and is safe to run at any time. The error is non-nil
// only when the store cannot be read (or ctx ends); a broken chain is a
// Result, not an error.
func Verify(ctx context.Context, s jit.Store) (Result, error) {
	return VerifyAnchored(ctx, s, nil)
}

// VerifyAnchored is Verify that also checks the chain against an anchor
// recorded earlier: the event at anchor.Seq must still exist and have
// anchor.Hash. A log that now ends before the anchor lost its last events.
func VerifyAnchored(ctx context.Context, s jit.Store, anchor *Anchor) (Result, error) {
	var (
		res      Result
		prevSeq  int64
		prevHash string
	)
	for {
		page, err := s.ListAudit(ctx, jit.AuditFilter{AfterSeq: prevSeq, Limit: pageSize})
		if err != nil {
			return Result{}, fmt.Errorf("verify audit chain after event %d: %w", prevSeq, err)
		}
		if len(page) == 0 {
			if anchor != nil && anchor.Seq > prevSeq {
				return broken(res, prevSeq+1, "events %d to %d are missing: the log ends at event %d but reached the recorded anchor %d before",
					prevSeq+1, anchor.Seq, prevSeq, anchor.Seq), nil
			}
			res.OK = true
			return res, nil
		}
		for i := range page {
			ev := &page[i]
			want := prevSeq + 1
			switch {
			case ev.Seq != want:
				return broken(res, want, "event %d is missing (the next stored event is %d)", want, ev.Seq), nil
			case !equal(ev.PrevHash, prevHash):
				if want == 1 {
					return broken(res, want, "event 1 does not start the chain (its prev_hash is not empty)"), nil
				}
				return broken(res, want, "event %d does not follow event %d (its prev_hash does not match that event's hash): events were reordered or replaced, or event %d was changed",
					want, want-1, want-1), nil
			case !equal(ev.Hash, ev.ComputeHash()):
				return broken(res, want, "event %d was changed (its contents do not match its hash)", want), nil
			}
			if anchor != nil && ev.Seq == anchor.Seq && !equal(ev.Hash, anchor.Hash) {
				return broken(res, want, "event %d is not the event recorded in the anchor (its hash differs): the log was rewritten", want), nil
			}
			res.Checked++
			res.HeadSeq, res.HeadHash = ev.Seq, ev.Hash
			prevSeq, prevHash = ev.Seq, ev.Hash
		}
	}
}

func broken(res Result, at int64, format string, args ...any) Result {
	res.OK = false
	res.BrokenAt = at
	res.Problem = fmt.Sprintf(format, args...)
	return res
}

// equal compares two hashes in constant time.
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Export writes the audit events with Time at or after since (every event
// when since is zero) to w as JSON lines, one jit.AuditEvent per line in
// seq order, the format SIEMs ingest. It returns the number of events
// written. It reads a page at a time, so it streams logs of any length.
// On an error the lines already written stay written; the count says how
// many.
func Export(ctx context.Context, s jit.Store, w io.Writer, since time.Time) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	var after int64
	for {
		page, err := s.ListAudit(ctx, jit.AuditFilter{Since: since, AfterSeq: after, Limit: pageSize})
		if err != nil {
			return n, fmt.Errorf("export audit events after %d: %w", after, err)
		}
		if len(page) == 0 {
			return n, nil
		}
		for i := range page {
			if err := enc.Encode(&page[i]); err != nil {
				return n, fmt.Errorf("export audit event %d: %w", page[i].Seq, err)
			}
			n++
		}
		after = page[len(page)-1].Seq
	}
}
