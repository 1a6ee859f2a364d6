package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string // substring of the message; "" means success
	}{
		{"90m", 90 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{" 8h ", 8 * time.Hour, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"2d", 48 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1d.5h", 24*time.Hour + 30*time.Minute, ""},
		{"366d", MaxDuration, ""},
		{"365d24h", MaxDuration, ""},
		{"1ns", time.Nanosecond, ""},
		{"", 0, "duration is empty"},
		{"   ", 0, "duration is empty"},
		{"abc", 0, `invalid duration "abc"`},
		{"5", 0, `invalid duration "5"`},
		{"d", 0, `invalid duration "d"`},
		{"1d2d", 0, `invalid duration "1d2d"`},
		{"1dh", 0, `invalid duration "1dh"`},
		{"1d-2h", 0, `invalid duration "1d-2h"`},
		{"1.5d", 0, "days must be a whole number"},
		{"0s", 0, "must be positive"},
		{"0d", 0, "must be positive"},
		{"-1h", 0, "must be positive"},
		{"-1d", 0, "must be positive"},
		{"367d", 0, "longer than the maximum of 366 days"},
		{"366d1s", 0, "longer than the maximum of 366 days"},
		{"9000h", 0, "longer than the maximum of 366 days"},
		{"99999999999999999999h", 0, "longer than the maximum of 366 days"},
		{"99999999999999999999d", 0, "longer than the maximum of 366 days"},
		{"1d99999999999999999999h", 0, "longer than the maximum of 366 days"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error with %q", tt.in, got, tt.err)
			continue
		}
		if !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseDuration(%q) error %q lacks %q", tt.in, err, tt.err)
		}
		if jit.ErrorCode(err) != jit.ECodeInvalidDur {
			t.Errorf("ParseDuration(%q) error code %q", tt.in, jit.ErrorCode(err))
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{
		8 * time.Hour: "8h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s", 30 * time.Minute: "30m",
		48 * time.Hour: "48h", time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s",
	}
	for d, want := range tests {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(got); err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}
