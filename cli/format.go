package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit"
)

// writeJSON prints v as one indented JSON document. HTML characters are
// not escaped so that reasons and comments print as they were written.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("printing JSON: %w", err)
	}
	return nil
}

// table is a tab-aligned table or key/value list.
type table struct {
	tw *tabwriter.Writer
	// dash prints empty cells as "-" so that columns stay readable.
	dash bool
}

// newTable is a table with a header row; empty cells print as "-".
func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), dash: true}
}

// newList is a key/value list.
func newList(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// row writes one line; cells are cleaned so that no value can break the
// layout (tabs, newlines).
func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		c = cell(c)
		if c == "" && t.dash {
			c = "-"
		}
		io.WriteString(t.tw, c)
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		if r < ' ' || r == 0x7f {
			// Control characters from the server could move the cursor or
			// recolour the terminal.
			return -1
		}
		return r
	}, s)
	return s
}

// truncate shortens s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// fmtDuration prints a duration the way people write it: 1h, 1h30m, 45m,
// 90s → 1m30s.
func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// approx rounds a non-negative duration to the unit people read: seconds
// under a minute, minutes under an hour, hours and minutes under two days,
// days and hours beyond.
func approx(d time.Duration) string {
	// Each band rounds to its unit first, so that 59m50s reads 1h, not 60m.
	if r := d.Round(time.Second); r < time.Minute {
		return fmt.Sprintf("%ds", int(r/time.Second))
	}
	if r := d.Round(time.Minute); r < time.Hour {
		return fmt.Sprintf("%dm", int(r/time.Minute))
	}
	if r := d.Round(time.Minute); r < 48*time.Hour {
		h, m := int(r/time.Hour), int(r%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	r := d.Round(time.Hour)
	days, h := int(r/(24*time.Hour)), int(r%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

// relative prints t against now: "in 42m", "3h ago", "now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d > 0:
		return "in " + approx(d)
	default:
		return approx(-d) + " ago"
	}
}

// approversText joins approver descriptions: "group:sre or user:bob@x".
func approversText(a []string) string {
	if len(a) == 0 {
		return "an approver"
	}
	return strings.Join(a, " or ")
}

// plural is "1 event", "2 events".
func plural(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, noun(n, one, many))
}

func noun(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// describe says in words where a request is: what it waits for, when it
// expires, or how it ended.
func describe(r *jit.Request, now time.Time) string {
	switch r.Status {
	case jit.StatusPending:
		got := r.ApprovalCount()
		left := r.ApprovalsRequired - got
		if left < 1 {
			left = 1
		}
		if got > 0 {
			return fmt.Sprintf("waiting for %d more %s from %s (%d of %d)", left, noun(left, "approval", "approvals"),
				approversText(r.Approvers), got, r.ApprovalsRequired)
		}
		return fmt.Sprintf("waiting for %s from %s", plural(left, "approval", "approvals"), approversText(r.Approvers))
	case jit.StatusApproved:
		if r.AutoApproved {
			return "approved automatically; access is being granted"
		}
		return "approved by " + approverList(r) + "; access is being granted"
	case jit.StatusGranting:
		return "access is being granted"
	case jit.StatusActive:
		if r.ExpiresAt != nil {
			return "expires " + relative(*r.ExpiresAt, now)
		}
		return "access is granted"
	case jit.StatusRevoking:
		if d := endDetail(r); d != "" {
			return "access is being removed (" + d + ")"
		}
		return "access is being removed"
	case jit.StatusExpired:
		if r.ExpiresAt != nil {
			return "expired " + relative(*r.ExpiresAt, now)
		}
		return "expired"
	default:
		if d := endDetail(r); d != "" {
			return d
		}
		return string(r.Status)
	}
}

// endDetail is "by X: reason" for a request that ended or is ending. jit
// itself (expiry, failure) is not named: the reason says what happened.
func endDetail(r *jit.Request) string {
	var b strings.Builder
	if r.EndedBy != "" && r.EndedBy != jit.SystemActor {
		b.WriteString("by " + r.EndedBy)
	}
	if r.EndReason != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(oneLine(r.EndReason))
	}
	return b.String()
}

func approverList(r *jit.Request) string {
	var names []string
	for _, a := range r.Approvals {
		if a.Approved {
			names = append(names, a.Approver)
		}
	}
	if len(names) == 0 {
		return "the approvers"
	}
	return strings.Join(names, ", ")
}

// statusLine is the one-line summary printed after an action:
// "req_1 pending — waiting for 1 approval from group:sre".
func statusLine(r *jit.Request, now time.Time) string {
	line := fmt.Sprintf("%s %s — %s", r.ID, r.Status, describe(r, now))
	if r.ExtendsID != "" {
		line += " (extends " + r.ExtendsID + ")"
	}
	return cell(line)
}

// endedError is the error for a request that will not become active.
func endedError(r *jit.Request) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.ID, r.Status)
	if r.EndedBy != "" && r.EndedBy != jit.SystemActor {
		fmt.Fprintf(&b, " by %s", r.EndedBy)
	}
	if r.EndReason != "" {
		fmt.Fprintf(&b, ": %s", oneLine(r.EndReason))
	}
	return fmt.Errorf("%s", b.String())
}
