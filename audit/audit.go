// Package audit verifies and exports the hash-chained audit log.
package audit

import (
	"fmt"
	"strconv"
	"strings"
)

// Result is the outcome of verifying the chain.
type Result struct {
	OK bool `json:"ok"`
	// Checked is the number of events verified.
	Checked int64 `json:"checked"`
	// BrokenAt is the sequence number where the chain first breaks.
	BrokenAt int64 `json:"broken_at,omitempty"`
	// Problem says what is wrong there (changed, missing, reordered).
	Problem string `json:"problem,omitempty"`
	// HeadSeq and HeadHash identify the last event verified. Recorded
	// somewhere the store's writers cannot change, they are an Anchor
	// that a later verification checks, which is what exposes events
	// deleted from the end of the log.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash,omitempty"`
}

// Anchor is a chain position recorded earlier (from a Result's HeadSeq and
// HeadHash): the chain must still reach it, with the same hash.
type Anchor struct {
	Seq  int64
	Hash string
}

// String is the form ParseAnchor reads: "SEQ:HASH".
func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// ParseAnchor reads "SEQ:HASH" as printed by jitd audit verify.
func ParseAnchor(s string) (Anchor, error) {
	seqText, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return Anchor{}, fmt.Errorf("anchor %q: want SEQ:HASH, as printed by jitd audit verify (an event number and a 64-digit lowercase hex hash)", s)
	}
	return Anchor{Seq: seq, Hash: hash}, nil
}
