package postgres

import (
	"strings"
	"testing"
)

func TestUserName(t *testing.T) {
	cases := []struct{ id, email, prefix string }{
		{"req_01J", "alice@example.com", "jit_alice_"},
		{"req_01J", "Alice.Smith+ops@example.com", "jit_alice_smith_ops_"},
		{"req_01J", "o'brien\"; DROP--@x", "jit_obrien_drop_"},
		{"req_01J", "@example.com", "jit_"},
		{"req_01J", "ünï@example.com", "jit_"},
		{"req_01J", strings.Repeat("a", 100) + "@x", "jit_" + strings.Repeat("a", localMax) + "_"},
	}
	for _, c := range cases {
		got := userName(c.id, c.email)
		if !strings.HasPrefix(got, c.prefix) || !userNamePattern.MatchString(got) || len(got) > maxIdentifier {
			t.Errorf("userName(%q, %q) = %q; want a jit_[a-z0-9_] name within 63 bytes starting %q", c.id, c.email, got, c.prefix)
		}
		if userName(c.id, c.email) != got {
			t.Errorf("userName is not deterministic")
		}
	}
	// Unique per request, the same for one request.
	if userName("req_a", "x@y") == userName("req_b", "x@y") {
		t.Error("two requests of one user share a name")
	}
	if groupName("db", "orders", "read") == groupName("db2", "orders", "read") ||
		groupName("db", "orders", "read") == groupName("db", "orders2", "read") ||
		groupName("db", "orders", "read") == groupName("db", "orders", "Read") {
		t.Error("group names of different databases, resources or levels coincide")
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"Alice":         "alice",
		"a..b--c":       "a_b_c",
		"_x_":           "x",
		"'; DROP --":    "drop",
		"ünï":           "n",
		"":              "",
		"a" + "\x00b":   "ab",
		"Ω-1 2":         "1_2",
		"trailing____x": "trailing_x",
	} {
		if got := sanitize(in, 24); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sanitize(strings.Repeat("ab_", 20), 10); len(got) > 10 || strings.HasSuffix(got, "_") {
		t.Errorf("sanitize did not bound or trim: %q", got)
	}
}
