package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Times are stored as unix microseconds, the precision of audit hashes. A
// zero time.Time is stored as NULL and read back as the zero time, so that
// "unset" survives a round trip.

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

func fromMicrosPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.UnixMicro(n.Int64).UTC()
	return &t
}

// jsonText encodes v (a slice or map) as JSON text.
func jsonText(what string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlite: encode %s: %w", what, err)
	}
	return string(b), nil
}

// detailsText encodes audit details; an empty map is NULL (the hash does
// not tell nil from empty either).
func detailsText(d map[string]string) (any, error) {
	if len(d) == 0 {
		return nil, nil
	}
	return jsonText("audit details", d)
}

func parseDetails(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(s.String), &d); err != nil {
		return nil, fmt.Errorf("sqlite: decode audit details: %w", err)
	}
	return d, nil
}

func parseStrings(what, s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("sqlite: decode %s: %w", what, err)
	}
	return v, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
