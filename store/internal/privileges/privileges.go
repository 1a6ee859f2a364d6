// Package privileges is the stored form of a request's privileges, shared
// by the stores: a JSON array of jit.Privilege.
//
// The stores refuse an update that changes a request's privileges by
// comparing the stored value with the update's (invariant 1), so the form
// is canonical: the same privileges always encode to the same text. No
// privileges, nil or empty, encode as "[]", and a privilege's Columns,
// nil or empty, are left out.
package privileges

import (
	"encoding/json"
	"fmt"

	"github.com/jitaccess/jit"
)

// Encode returns the stored form of ps.
func Encode(ps []jit.Privilege) (string, error) {
	if len(ps) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ps)
	if err != nil {
		return "", fmt.Errorf("encode privileges: %w", err)
	}
	return string(b), nil
}

// Decode reads the stored form b. No privileges decode as nil, and a
// privilege without columns has nil Columns, so that what was stored reads
// back equal whichever empty form it was given in.
func Decode(b []byte) ([]jit.Privilege, error) {
	var ps []jit.Privilege
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("decode privileges: %w", err)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	for i := range ps {
		if len(ps[i].Columns) == 0 {
			ps[i].Columns = nil
		}
	}
	return ps, nil
}
