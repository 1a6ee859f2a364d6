package cli

import (
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func TestFmtDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{45 * time.Second, "45s"},
		{90 * time.Second, "1m30s"},
		{30 * time.Minute, "30m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{36 * time.Hour, "36h"},
		{1500 * time.Millisecond, "2s"},
		{50 * time.Millisecond, "50ms"},
	}
	for _, tt := range tests {
		if got := fmtDuration(tt.d); got != tt.want {
			t.Errorf("fmtDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRelative(t *testing.T) {
	tests := []struct {
		d    time.Duration // t - now
		want string
	}{
		{0, "now"},
		{500 * time.Millisecond, "now"},
		{30 * time.Second, "in 30s"},
		{-30 * time.Second, "30s ago"},
		{41*time.Minute + 40*time.Second, "in 42m"},
		{59*time.Minute + 50*time.Second, "in 1h"},
		{-3 * time.Hour, "3h ago"},
		{2*time.Hour + 5*time.Minute, "in 2h5m"},
		{47*time.Hour + 59*time.Minute + 50*time.Second, "in 2d"},
		{50 * time.Hour, "in 2d2h"},
		{-72 * time.Hour, "3d ago"},
	}
	for _, tt := range tests {
		if got := relative(t0.Add(tt.d), t0); got != tt.want {
			t.Errorf("relative(now%+v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestTruncateAndCell(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "INC-42", 10, "INC-42"},
		{"exact", "abcde", 5, "abcde"},
		{"cut", "abcdefgh", 5, "abcd…"},
		{"runes", "ééééééé", 4, "ééé…"},
		{"newlines", "line one\nline two", 40, "line one line two"},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("%s: truncate = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := cell("a\tb\x1b[31mred\x07"); got != "a b[31mred" {
		t.Errorf("cell kept control characters: %q", got)
	}
}

func TestDescribe(t *testing.T) {
	exp := t0.Add(42 * time.Minute)
	tests := []struct {
		name string
		r    jit.Request
		want string
	}{
		{"pending none", jit.Request{Status: jit.StatusPending, ApprovalsRequired: 2, Approvers: []string{"group:sre", "user:bob@example.com"}},
			"waiting for 2 approvals from group:sre or user:bob@example.com"},
		{"pending some", jit.Request{Status: jit.StatusPending, ApprovalsRequired: 3, Approvers: []string{"peers"},
			Approvals: []jit.Approval{{Approver: "a", Approved: true}}}, "waiting for 2 more approvals from peers (1 of 3)"},
		{"approved auto", jit.Request{Status: jit.StatusApproved, AutoApproved: true}, "approved automatically; access is being granted"},
		{"approved", jit.Request{Status: jit.StatusApproved, Approvals: []jit.Approval{{Approver: "bob", Approved: true}, {Approver: "dan", Approved: true}}},
			"approved by bob, dan; access is being granted"},
		{"granting", jit.Request{Status: jit.StatusGranting}, "access is being granted"},
		{"active", jit.Request{Status: jit.StatusActive, ExpiresAt: &exp}, "expires in 42m"},
		{"expired", jit.Request{Status: jit.StatusExpired, ExpiresAt: ptr(t0.Add(-time.Hour))}, "expired 1h ago"},
		{"failed", jit.Request{Status: jit.StatusFailed, EndedBy: "system", EndReason: "grant failed after 5 attempts"},
			"grant failed after 5 attempts"},
		{"lapsed no detail", jit.Request{Status: jit.StatusLapsed}, "lapsed"},
	}
	for _, tt := range tests {
		if got := describe(&tt.r, t0); got != tt.want {
			t.Errorf("%s: describe = %q, want %q", tt.name, got, tt.want)
		}
	}
}
