package callout

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
)

func TestDocuments(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{
			name: "grant",
			doc: Grant(provider.GrantRequest{RequestID: "r1", User: "a@example.com", Resource: "db",
				Access: "read", Reason: "INC-1", ExpiresAt: exp}),
			want: `{"action":"grant","request_id":"r1","user":"a@example.com","resource":"db","access":"read","reason":"INC-1","expires_at":"2030-01-02T02:04:05Z","handle":null}`,
		},
		{
			name: "grant without expiry",
			doc:  Grant(provider.GrantRequest{RequestID: "r1"}),
			want: `{"action":"grant","request_id":"r1","user":"","resource":"","access":"","reason":"","expires_at":null,"handle":null}`,
		},
		{
			name: "revoke with handle",
			doc: Revoke(provider.RevokeRequest{RequestID: "r1", User: "a@example.com", Resource: "db",
				Access: "read", Handle: json.RawMessage(`{"id":7}`)}),
			want: `{"action":"revoke","request_id":"r1","user":"a@example.com","resource":"db","access":"read","reason":"","expires_at":null,"handle":{"id":7}}`,
		},
		{
			name: "revoke with invalid stored handle",
			doc:  Revoke(provider.RevokeRequest{RequestID: "r1", Handle: json.RawMessage(`{oops`)}),
			want: `{"action":"revoke","request_id":"r1","user":"","resource":"","access":"","reason":"","expires_at":null,"handle":null}`,
		},
		{
			name: "verify",
			doc:  Verify(provider.VerifyRequest{RequestID: "r2", Handle: json.RawMessage(`"h"`)}),
			want: `{"action":"verify","request_id":"r2","user":"","resource":"","access":"","reason":"","expires_at":null,"handle":"h"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.doc.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestParseGrant(t *testing.T) {
	big := `{"handle":"` + strings.Repeat("x", MaxHandle) + `"}`
	tests := []struct {
		body    string
		want    string
		wantErr string
	}{
		{"", "", ""},
		{"  \n", "", ""},
		{`{}`, "", ""},
		{`{"handle":null}`, "", ""},
		{`{"handle": {"user": "jit_r1", "n": 1}}`, `{"user":"jit_r1","n":1}`, ""},
		{`{"handle":"abc","extra":true}`, `"abc"`, ""},
		{"OK", "", "not a JSON object"},
		{`[1]`, "", "not a JSON object"},
		{`{"handle":`, "", "invalid JSON"},
		{`{"handle":1} {"handle":2}`, "", "more than one value"},
		{big, "", "more than the"},
	}
	for _, tt := range tests {
		got, err := ParseGrant([]byte(tt.body))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseGrant(%.40q) err = %v, want %q", tt.body, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseGrant(%q) err = %v", tt.body, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("ParseGrant(%q) = %s, want %s", tt.body, got, tt.want)
		}
		if tt.want == "" && got != nil {
			t.Errorf("ParseGrant(%q) = %q, want nil", tt.body, got)
		}
	}
}

func TestParseVerify(t *testing.T) {
	exp := time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC)
	tests := []struct {
		body    string
		present bool
		exp     *time.Time
		wantErr string
	}{
		{`{"present":true}`, true, nil, ""},
		{`{"present":false,"expires_at":null}`, false, nil, ""},
		{`{"present":true,"expires_at":"2030-01-02T03:04:05+01:00"}`, true, &exp, ""},
		{`{"present":true,"expires_at":""}`, true, nil, ""},
		{"", false, nil, "empty"},
		{`{}`, false, nil, `no "present"`},
		{`{"present":"yes"}`, false, nil, "invalid JSON"},
		{`{"present":true,"expires_at":"tomorrow"}`, false, nil, "RFC 3339"},
		{`true`, false, nil, "not a JSON object"},
	}
	for _, tt := range tests {
		got, err := ParseVerify([]byte(tt.body))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseVerify(%q) err = %v, want %q", tt.body, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseVerify(%q) err = %v", tt.body, err)
			continue
		}
		if got.Present != tt.present {
			t.Errorf("ParseVerify(%q).Present = %v", tt.body, got.Present)
		}
		if (got.ExpiresAt == nil) != (tt.exp == nil) || (tt.exp != nil && !got.ExpiresAt.Equal(*tt.exp)) {
			t.Errorf("ParseVerify(%q).ExpiresAt = %v, want %v", tt.body, got.ExpiresAt, tt.exp)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		writes    []string
		want      string
		truncated bool
	}{
		{nil, "", false},
		{[]string{"abc"}, "abc", false},
		{[]string{"abcde"}, "abcde", false},
		{[]string{"abcdef"}, "bcdef", true},
		{[]string{"ab", "cd", "ef", "g"}, "cdefg", true},
		{[]string{"abcd", "efghijkl"}, "hijkl", true},
		{[]string{"a", "", "b"}, "ab", false},
	}
	for _, tt := range tests {
		tb := &TailBuffer{N: 5}
		for _, w := range tt.writes {
			if n, err := tb.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if string(tb.Bytes()) != tt.want || tb.Truncated() != tt.truncated {
			t.Errorf("writes %q: got %q truncated=%v, want %q truncated=%v", tt.writes, tb.Bytes(), tb.Truncated(), tt.want, tt.truncated)
		}
	}
}

func TestLimitBuffer(t *testing.T) {
	lb := &LimitBuffer{Max: 4}
	for _, w := range []string{"ab", "cd", "ef"} {
		if n, err := lb.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if !bytes.Equal(lb.Bytes(), []byte("abcd")) || !lb.Overflow {
		t.Errorf("got %q overflow=%v", lb.Bytes(), lb.Overflow)
	}
	lb = &LimitBuffer{Max: 4}
	lb.Write([]byte("abcd"))
	if lb.Overflow {
		t.Error("exactly Max bytes is no overflow")
	}
}

func TestSnippet(t *testing.T) {
	if got := Snippet([]byte("a\nb"), 10); got != `"a\nb"` {
		t.Errorf("Snippet = %s", got)
	}
	if got := Snippet([]byte("abcdef"), 3); got != `"abc" (6 bytes, truncated)` {
		t.Errorf("Snippet = %s", got)
	}
}
