package azure

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// requestNamespace is the UUID namespace of the schedule request names
// jit derives from request IDs. Changing it would orphan every grant made
// before.
var requestNamespace = uuid.MustParse("5d0f8d0e-4c7b-4f0e-9f43-8a1c2b7e6a31")

func derivedName(kind, requestID string) string {
	return uuid.NewSHA1(requestNamespace, []byte(kind+"\x00"+requestID)).String()
}

// RequestName is the name (a GUID) of the AdminAssign schedule request
// that grants requestID. It is a name-based UUID (version 5) of the
// request ID, so a repeated grant addresses the same request.
func RequestName(requestID string) string { return derivedName("assign", requestID) }

// RemoveName is the name of the AdminRemove schedule request that revokes
// requestID.
func RemoveName(requestID string) string { return derivedName("remove", requestID) }

// TakeoverName is the name of the AdminRemove schedule request by which
// requestID's grant replaces the assignment another jit request made for
// the same person, role and scope (Azure holds one such assignment only).
func TakeoverName(requestID string) string { return derivedName("takeover", requestID) }

// RestoreName is the name of the AdminAssign schedule request by which
// the revoke of requestID assigns the role again for the other jit
// requests that shared its assignment.
func RestoreName(requestID string) string { return derivedName("restore", requestID) }

// maxClaims is how many jit requests may share one assignment. Their IDs
// and expiries are written into the justification, which must stay short.
const maxClaims = 4

// maxRequestID bounds request IDs, which are written into justifications.
const maxRequestID = 64

// maxJustification caps the justification sent to Azure, which keeps it
// in its activity logs and PIM history: the claims, who asked, and the
// start of the reason, not the whole reason.
const maxJustification = 500

// checkRequestID accepts request IDs that can be written into a
// justification and read back: 1 to 64 of A-Z a-z 0-9 . _ : -
func checkRequestID(id string) error {
	if id == "" || len(id) > maxRequestID {
		return errors.New("request ID must have 1 to 64 characters")
	}
	for _, r := range id {
		if !isAlnum(r) && !strings.ContainsRune("._:-", r) {
			return errors.New("request ID may hold only letters, digits and . _ : -")
		}
	}
	return nil
}

// claim is one jit request sharing an assignment, until its expiry.
type claim struct {
	id      string
	expires time.Time
}

// record is what jit writes into the justification of each schedule
// request it makes, and reads back to learn which jit requests an
// assignment serves: "jit OP [ID@UNIX ID@UNIX] for USER: REASON", where OP
// is the request whose grant or revoke sent it and the bracket lists the
// requests the assignment serves after it, each with its expiry in Unix
// seconds.
type record struct {
	op     string
	claims []claim
}

const recordPrefix = "jit "

// justification writes r, then who asked and the start of the reason,
// within maxJustification. The record itself is never cut: its size is
// bounded by maxRequestID and maxClaims.
func (r record) justification(user, reason string) string {
	var b strings.Builder
	b.WriteString(recordPrefix)
	b.WriteString(r.op)
	b.WriteString(" [")
	for i, c := range r.claims {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(c.id)
		b.WriteString("@")
		b.WriteString(strconv.FormatInt(c.expires.Unix(), 10))
	}
	b.WriteString("]")
	if u := cleanText(user, 100); u != "" {
		b.WriteString(" for ")
		b.WriteString(u)
	}
	if rs := cleanText(reason, maxJustification); rs != "" {
		b.WriteString(": ")
		b.WriteString(rs)
	}
	return truncateRunes(b.String(), maxJustification)
}

// parseRecord reads a record from a justification. ok is false for any
// text jit did not write in this form.
func parseRecord(s string) (record, bool) {
	rest, ok := strings.CutPrefix(s, recordPrefix)
	if !ok {
		return record{}, false
	}
	op, rest, ok := strings.Cut(rest, " [")
	if !ok || checkRequestID(op) != nil {
		return record{}, false
	}
	list, _, ok := strings.Cut(rest, "]")
	if !ok {
		return record{}, false
	}
	r := record{op: op}
	if list == "" {
		return r, true
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(list, " ") {
		id, unix, ok := strings.Cut(item, "@")
		if !ok || checkRequestID(id) != nil || seen[id] {
			return record{}, false
		}
		secs, err := strconv.ParseInt(unix, 10, 64)
		if err != nil || secs <= 0 || secs > 1<<40 {
			return record{}, false
		}
		seen[id] = true
		r.claims = append(r.claims, claim{id: id, expires: time.Unix(secs, 0).UTC()})
	}
	if len(r.claims) > maxClaims {
		return record{}, false
	}
	return r, true
}

// find returns the claim of id, if r has one.
func (r record) find(id string) (claim, bool) {
	for _, c := range r.claims {
		if c.id == id {
			return c, true
		}
	}
	return claim{}, false
}

// live returns the claims of r, other than except, that have not expired
// at now, sorted by ID.
func (r record) live(now time.Time, except string) []claim {
	var out []claim
	for _, c := range r.claims {
		if c.id != except && c.expires.After(now) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// latest returns the latest expiry of claims.
func latest(claims []claim) time.Time {
	var t time.Time
	for _, c := range claims {
		if c.expires.After(t) {
			t = c.expires
		}
	}
	return t
}

// createdBy reports whether a schedule request called name, whose
// justification holds r, is one jit made to create an assignment: its
// name is the assign or restore name of r's operation.
func (r record) createdBy(name string) bool {
	return strings.EqualFold(name, RequestName(r.op)) || strings.EqualFold(name, RestoreName(r.op))
}
