package callout

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/jitaccess/jit/provider"
)

// ActionList asks an integration for every access jit created in its
// target (provider.Lister).
const ActionList = "list"

// MaxListAnswer is the largest list answer read. A listing holds one short
// entry per active grant, so this allows for tens of thousands of them while
// keeping a broken integration from exhausting jitd's memory.
const MaxListAnswer = 16 << 20

// List returns the document for a list. Only action and resource are set;
// the other members are empty or null.
func List(r provider.ListRequest) Document {
	return Document{Action: ActionList, Resource: r.Resource}
}

// ParseList reads a list's answer: a JSON object with a required array
// "grants" whose entries have a required, non-empty "request_id", and
// optional "user", "access" and RFC 3339 "expires_at". An entry listed
// twice is kept once. Any malformed entry fails the whole answer, since a
// partial listing must not be taken for the target's content.
func ParseList(body []byte) (provider.ListResponse, error) {
	var v struct {
		Grants *[]struct {
			RequestID *string `json:"request_id"`
			User      string  `json:"user"`
			Access    string  `json:"access"`
			ExpiresAt *string `json:"expires_at"`
		} `json:"grants"`
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return provider.ListResponse{}, errors.New(`list answer is empty; want {"grants": [...]}`)
	}
	if err := unmarshalObject(body, &v); err != nil {
		return provider.ListResponse{}, fmt.Errorf("list answer: %w", err)
	}
	if v.Grants == nil {
		return provider.ListResponse{}, errors.New(`list answer has no "grants" array`)
	}
	resp := provider.ListResponse{Grants: make([]provider.ListedGrant, 0, len(*v.Grants))}
	seen := make(map[string]bool, len(*v.Grants))
	for i, g := range *v.Grants {
		if g.RequestID == nil || *g.RequestID == "" {
			return provider.ListResponse{}, fmt.Errorf("list answer: grants[%d] has no request_id", i)
		}
		lg := provider.ListedGrant{RequestID: *g.RequestID, User: g.User, Access: g.Access}
		if g.ExpiresAt != nil && *g.ExpiresAt != "" {
			t, err := time.Parse(time.RFC3339, *g.ExpiresAt)
			if err != nil {
				return provider.ListResponse{}, fmt.Errorf("list answer: grants[%d] (%s): expires_at is not RFC 3339: %w", i, lg.RequestID, err)
			}
			t = t.UTC()
			lg.ExpiresAt = &t
		}
		if seen[lg.RequestID] {
			continue
		}
		seen[lg.RequestID] = true
		resp.Grants = append(resp.Grants, lg)
	}
	return resp, nil
}
