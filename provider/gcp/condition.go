package gcp

import (
	"regexp"
	"strings"
	"time"
	"unicode"

	crm "google.golang.org/api/cloudresourcemanager/v3"
)

// ActivationTitle is the title of the condition of every binding jit
// creates. Together with a description starting with DescriptionPrefix
// and an expression of ActivationExpression's form, it marks a binding as
// jit's own: only such bindings are ever changed or removed.
const ActivationTitle = "JIT access activation"

// DescriptionPrefix starts the description of jit's conditions; the
// request ID follows, then " for " and the requester's email when they
// fit the description's length limit.
const DescriptionPrefix = "jit request "

// maxDescriptionLen is the limit IAM sets on a condition's description.
const maxDescriptionLen = 256

// The conditions that make a binding eligible rather than effective.
// They are never true, so such a binding grants nothing by itself.
const (
	// SelfActivationExpression marks a binding its holders may activate
	// with a justification.
	SelfActivationExpression = "has({}.jitAccessConstraint)"
	// MultiPartyExpression marks a binding its holders may activate
	// with the approval of another holder.
	MultiPartyExpression = "has({}.multiPartyApprovalConstraint)"
)

// Eligibility is how a person may activate a role.
type Eligibility int

// The kinds of eligibility, weakest first.
const (
	NotEligible Eligibility = iota
	// MultiParty: another holder of the eligible binding must approve.
	MultiParty
	// SelfActivation: a justification is enough.
	SelfActivation
)

// Labels recorded with a request (CheckResponse.Labels).
const (
	LabelSelfActivation = "gcp:self-activation"
	LabelMultiParty     = "gcp:multi-party"
)

func (e Eligibility) label() string {
	switch e {
	case SelfActivation:
		return LabelSelfActivation
	case MultiParty:
		return LabelMultiParty
	}
	return ""
}

func (e Eligibility) String() string {
	switch e {
	case SelfActivation:
		return "self-activation"
	case MultiParty:
		return "multi-party approval"
	}
	return "not eligible"
}

// eligibilityOf reads an eligibility marker from a condition expression,
// ignoring white space and case as Google's JIT Access does.
func eligibilityOf(expression string) Eligibility {
	norm := strings.ToLower(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, expression))
	switch norm {
	case strings.ToLower(SelfActivationExpression):
		return SelfActivation
	case strings.ToLower(MultiPartyExpression):
		return MultiParty
	}
	return NotEligible
}

// timeLayout is how times are written into conditions: RFC 3339, UTC,
// whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// ActivationExpression is the condition that limits an activation to
// [start, end).
func ActivationExpression(start, end time.Time) string {
	return `request.time >= timestamp("` + start.UTC().Format(timeLayout) +
		`") && request.time < timestamp("` + end.UTC().Format(timeLayout) + `")`
}

var activationRe = regexp.MustCompile(`^request\.time >= timestamp\("([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)"\) && request\.time < timestamp\("([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)"\)$`)

// activation is one of jit's bindings, read back from a policy.
type activation struct {
	RequestID string
	// User is the requester's email from the description; "" when it
	// did not fit there.
	User       string
	Start, End time.Time
}

// activationCondition is the condition of the binding for requestID.
func activationCondition(requestID, user string, start, end time.Time) *crm.Expr {
	desc := DescriptionPrefix + requestID
	if withUser := desc + " for " + user; len(withUser) <= maxDescriptionLen {
		desc = withUser
	}
	return &crm.Expr{
		Title:       ActivationTitle,
		Description: desc,
		Expression:  ActivationExpression(start, end),
	}
}

// parseActivation reports whether b is one of jit's activation bindings
// and reads it. Bindings made by people or by other tools (Google's own
// JIT Access uses the same title with another description) are not.
func parseActivation(b *crm.Binding) (activation, bool) {
	if b == nil || b.Condition == nil {
		return activation{}, false
	}
	return parseActivationCondition(b.Condition.Title, b.Condition.Description, b.Condition.Expression)
}

// parseActivationCondition is parseActivation on a condition's parts, as
// both the Resource Manager and the Cloud Asset APIs return them.
func parseActivationCondition(title, description, expression string) (activation, bool) {
	if title != ActivationTitle {
		return activation{}, false
	}
	rest, ok := strings.CutPrefix(description, DescriptionPrefix)
	if !ok {
		return activation{}, false
	}
	id, user, _ := strings.Cut(rest, " for ")
	if checkRequestID(id) != nil {
		return activation{}, false
	}
	m := activationRe.FindStringSubmatch(expression)
	if m == nil {
		return activation{}, false
	}
	start, err1 := time.Parse(time.RFC3339, m[1])
	end, err2 := time.Parse(time.RFC3339, m[2])
	if err1 != nil || err2 != nil {
		return activation{}, false
	}
	if checkEmail(user) != nil {
		user = ""
	}
	return activation{RequestID: id, User: user, Start: start, End: end}, true
}
