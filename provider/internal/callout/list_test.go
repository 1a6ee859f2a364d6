package callout

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
)

func TestListDocument(t *testing.T) {
	b, err := List(provider.ListRequest{Resource: "db"}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"list","request_id":"","user":"","resource":"db","access":"","reason":"","expires_at":null,"handle":null}`
	if string(b) != want {
		t.Errorf("list document = %s, want %s", b, want)
	}
}

func TestParseList(t *testing.T) {
	exp := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		want    []provider.ListedGrant
		wantErr string
	}{
		{"empty list", `{"grants":[]}`, []provider.ListedGrant{}, ""},
		{"entries", `{"grants":[{"request_id":"a","user":"u@x","access":"ro","expires_at":"2026-11-23T13:00:00+01:00"},{"request_id":"b"}]}`,
			[]provider.ListedGrant{{RequestID: "a", User: "u@x", Access: "ro", ExpiresAt: &exp}, {RequestID: "b"}}, ""},
		{"null expiry and unknown members", `{"grants":[{"request_id":"a","expires_at":null,"extra":1}],"more":true}`,
			[]provider.ListedGrant{{RequestID: "a"}}, ""},
		{"duplicate kept once", `{"grants":[{"request_id":"a","user":"1"},{"request_id":"a","user":"2"}]}`,
			[]provider.ListedGrant{{RequestID: "a", User: "1"}}, ""},
		{"empty body", "  ", nil, "list answer is empty"},
		{"no grants member", `{}`, nil, `no "grants" array`},
		{"grants not an array", `{"grants":{}}`, nil, "invalid JSON"},
		{"missing request_id", `{"grants":[{"user":"u"}]}`, nil, "grants[0] has no request_id"},
		{"empty request_id", `{"grants":[{"request_id":"a"},{"request_id":""}]}`, nil, "grants[1] has no request_id"},
		{"bad expiry", `{"grants":[{"request_id":"a","expires_at":"tomorrow"}]}`, nil, "grants[0] (a): expires_at is not RFC 3339"},
		{"not an object", `[]`, nil, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseList(%s) error = %v, want one containing %q", tt.body, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseList(%s): %v", tt.body, err)
			}
			if len(got.Grants) != len(tt.want) {
				t.Fatalf("ParseList(%s) = %+v, want %+v", tt.body, got.Grants, tt.want)
			}
			for i, g := range got.Grants {
				w := tt.want[i]
				if g.RequestID != w.RequestID || g.User != w.User || g.Access != w.Access ||
					(g.ExpiresAt == nil) != (w.ExpiresAt == nil) || (g.ExpiresAt != nil && !g.ExpiresAt.Equal(*w.ExpiresAt)) {
					t.Errorf("grant %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
