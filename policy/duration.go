package policy

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// MaxDuration is the longest duration ParseDuration accepts. Access that
// lasts longer than a year is not just-in-time, and the bound keeps day
// arithmetic far from overflow.
const MaxDuration = 366 * 24 * time.Hour

// wellFormed matches the syntax of Go durations without a sign.
var wellFormed = regexp.MustCompile(`^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

const durationHint = `use Go notation with an optional day count, like "90m", "8h", "2d" or "1d12h"`

// ParseDuration parses a duration in Go notation ("90m", "1h30m") with an
// optional leading whole number of days ("2d", "1d12h"). Surrounding spaces
// are ignored.
//
// Errors are *jit.Error values with code invalid_duration and field
// "duration", whose message says what is wrong: the text is empty, cannot
// be parsed, is zero or negative, or is longer than 366 days.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, durationErr("duration is empty; %s", durationHint)
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, durationErr("duration %q must be positive", s)
	}
	if d > MaxDuration {
		return 0, durationErr("duration %q is longer than the maximum of 366 days", s)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, error) {
	bad := func() error { return durationErr("invalid duration %q: %s", s, durationHint) }
	days, rest := int64(0), s
	// A day count is a run of digits directly followed by "d"; Go's own
	// units never use that letter, so the split is unambiguous.
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		num := s[:i]
		if strings.HasPrefix(num, "-") {
			return 0, durationErr("duration %q must be positive", s)
		}
		if num == "" || strings.Trim(num, "0123456789") != "" {
			if strings.ContainsAny(num, ".") && strings.Trim(num, "0123456789.") == "" {
				return 0, durationErr("invalid duration %q: days must be a whole number (write \"1d12h\", not \"1.5d\")", s)
			}
			return 0, bad()
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > int64(MaxDuration/(24*time.Hour)) {
			return 0, durationErr("duration %q is longer than the maximum of 366 days", s)
		}
		days, rest = n, s[i+1:]
		if rest == "" {
			return time.Duration(days) * 24 * time.Hour, nil
		}
		// "1d-2h" would silently mean 22h; the part after the days must be
		// a plain positive Go duration.
		if c := rest[0]; c < '0' || c > '9' {
			if c != '.' {
				return 0, bad()
			}
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		// time.ParseDuration reports overflow as a plain syntax error; a
		// text that is well formed can only have failed by being too large.
		if wellFormed.MatchString(rest) {
			return 0, durationErr("duration %q is longer than the maximum of 366 days", s)
		}
		return 0, bad()
	}
	if days > 0 {
		if d > MaxDuration {
			return 0, durationErr("duration %q is longer than the maximum of 366 days", s)
		}
		d += time.Duration(days) * 24 * time.Hour
	}
	return d, nil
}

func durationErr(format string, args ...any) error {
	return jit.FieldErrorf("duration", jit.ECodeInvalidDur, format, args...)
}

// FormatDuration writes d in the shortest Go notation ("8h", "1h30m",
// "45s"), which ParseDuration reads back.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
