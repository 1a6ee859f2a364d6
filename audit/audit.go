// Package audit verifies and exports the hash-chained audit log.
package audit

// Result is the outcome of verifying the chain.
type Result struct {
	OK bool `json:"ok"`
	// Checked is the number of events verified.
	Checked int64 `json:"checked"`
	// BrokenAt is the sequence number where the chain first breaks.
	BrokenAt int64 `json:"broken_at,omitempty"`
	// Problem says what is wrong there (changed, missing, reordered).
	Problem string `json:"problem,omitempty"`
}
