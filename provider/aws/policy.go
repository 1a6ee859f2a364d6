package aws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jit/provider"
)

// MaxPolicySize bounds a configured policy document, before any check.
const MaxPolicySize = 64 << 10

// maxPolicyDepth bounds the nesting of a policy document; real ones
// nest four deep (policy, statement, condition, key).
const maxPolicyDepth = 16

// Condition operator and key jit writes on every statement.
const (
	expiryOperator = "DateLessThan"
	expiryKey      = "aws:CurrentTime"
)

// Policy is a checked IAM identity policy document, as configured for an
// access level. Its zero value is not usable; see ParsePolicy.
type Policy struct {
	version    string
	statements []map[string]any
}

// PolicyError is a policy document refused by ParsePolicy or Check. It
// says which statement and what, never echoing more than an action name.
type PolicyError struct {
	// Statement is the 1-based index of the statement at fault, 0 for the
	// document as a whole.
	Statement int
	Reason    string
}

func (e *PolicyError) Error() string {
	if e.Statement == 0 {
		return "policy document: " + e.Reason
	}
	return fmt.Sprintf("policy document, statement %d: %s", e.Statement, e.Reason)
}

func docErr(format string, args ...any) error {
	return &PolicyError{Reason: fmt.Sprintf(format, args...)}
}

func stmtErr(i int, format string, args ...any) error {
	return &PolicyError{Statement: i + 1, Reason: fmt.Sprintf(format, args...)}
}

// Elements of an identity policy, in IAM's spelling. Any other key, or
// one of these in another case, is refused: IAM's parser and this one
// must not read a document differently.
var (
	policyKeys    = []string{"Version", "Id", "Statement"}
	statementKeys = []string{"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"}
)

// ParsePolicy reads a policy document (JSON) strictly: one object, no
// duplicate keys (even differing only in case), only IAM's elements in
// IAM's spelling, Version 2012-10-17 (or the old 2008-10-17), each
// statement with Effect Allow or Deny, Action and Resource as a string or
// a list of strings, and Condition as operator → key → value(s). It
// refuses NotAction, Principal and NotPrincipal, NotResource in an Allow
// statement, and an Id or a DateLessThan condition on aws:CurrentTime
// (jit writes both). It does not judge which actions are granted; see
// Check.
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, docErr("larger than %d bytes", MaxPolicySize)
	}
	v, err := decodeStrict(data)
	if err != nil {
		return nil, docErr("%v", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, docErr("must be a JSON object")
	}
	if err := checkKeys(top, policyKeys); err != nil {
		return nil, docErr("%v", err)
	}
	p := &Policy{version: "2012-10-17"}
	if ver, ok := top["Version"]; ok {
		s, isStr := ver.(string)
		if !isStr || (s != "2012-10-17" && s != "2008-10-17") {
			return nil, docErr(`Version must be "2012-10-17"`)
		}
		p.version = s
	}
	if _, ok := top["Id"]; ok {
		return nil, docErr("Id is written by jit (it records the request); leave it out")
	}
	switch st := top["Statement"].(type) {
	case map[string]any:
		p.statements = []map[string]any{st}
	case []any:
		for i, e := range st {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, stmtErr(i, "must be a JSON object")
			}
			p.statements = append(p.statements, m)
		}
	case nil:
		return nil, docErr("Statement is required")
	default:
		return nil, docErr("Statement must be an object or a list of objects")
	}
	if len(p.statements) == 0 {
		return nil, docErr("Statement must not be empty")
	}
	for i, st := range p.statements {
		if err := checkStatement(i, st); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// PolicyFromSetting reads a level's policy from a decoded setting: a
// JSON document as a string, or the document written as a YAML map.
func PolicyFromSetting(v any) (*Policy, error) {
	switch x := v.(type) {
	case string:
		return ParsePolicy([]byte(x))
	case map[string]any, map[any]any:
		norm, err := normalizeYAML(x, 0)
		if err != nil {
			return nil, docErr("%v", err)
		}
		b, err := json.Marshal(norm)
		if err != nil {
			return nil, docErr("cannot be written as JSON: %v", err)
		}
		return ParsePolicy(b)
	}
	return nil, docErr("must be a JSON document (a string) or a map")
}

// normalizeYAML turns YAML's map[any]any into map[string]any, refusing
// non-string keys and values JSON cannot hold.
func normalizeYAML(v any, depth int) (any, error) {
	if depth > maxPolicyDepth {
		return nil, errors.New("nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		m, ok := provider.AsMap(x)
		if !ok {
			return nil, errors.New("map keys must be strings")
		}
		return normalizeYAML(m, depth)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	case string, bool, nil, int, int64, uint64, float64, json.Number:
		return x, nil
	}
	if _, ok := toNumber(v); ok {
		return v, nil
	}
	return nil, fmt.Errorf("a value of type %T cannot be part of a policy", v)
}

func toNumber(v any) (any, bool) {
	switch v.(type) {
	case int8, int16, int32, uint, uint8, uint16, uint32, float32:
		return v, true
	}
	return nil, false
}

// decodeStrict decodes one JSON value, refusing duplicate object keys
// (compared without case: Go keeps the last of two, another parser may
// keep the first), nesting deeper than maxPolicyDepth and trailing data.
// Numbers stay json.Number so that they are written back unchanged.
func decodeStrict(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("text after the JSON document")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxPolicyDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("not valid JSON: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("not valid JSON: object key is not a string")
				}
				if seen[strings.ToLower(k)] {
					return nil, fmt.Errorf("key %q appears twice", k)
				}
				seen[strings.ToLower(k)] = true
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("not valid JSON: %w", err)
			}
			return m, nil
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("not valid JSON: %w", err)
			}
			return l, nil
		}
		return nil, errors.New("not valid JSON")
	default:
		return t, nil
	}
}

// checkKeys refuses keys outside known and known keys in another case.
func checkKeys(m map[string]any, known []string) error {
	for k := range m {
		if slices.Contains(known, k) {
			continue
		}
		for _, want := range known {
			if strings.EqualFold(k, want) {
				return fmt.Errorf("write %q, not %q", want, k)
			}
		}
		return fmt.Errorf("unknown element %q (known: %s)", k, strings.Join(known, ", "))
	}
	return nil
}

var (
	sidRE = regexp.MustCompile(`^[A-Za-z0-9]*$`)
	// actionRE is "service:pattern" or "*"; IAM's service prefixes are
	// lower-case letters, digits and dashes, action names letters and
	// digits, and * and ? are wildcards.
	actionRE = regexp.MustCompile(`^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)$`)
)

func checkStatement(i int, st map[string]any) error {
	if err := checkKeys(st, statementKeys); err != nil {
		return stmtErr(i, "%v", err)
	}
	if sid, ok := st["Sid"]; ok {
		s, isStr := sid.(string)
		if !isStr || !sidRE.MatchString(s) {
			return stmtErr(i, "Sid must be letters and digits only")
		}
	}
	effect, _ := st["Effect"].(string)
	if effect != "Allow" && effect != "Deny" {
		return stmtErr(i, `Effect must be "Allow" or "Deny"`)
	}
	if _, ok := st["NotAction"]; ok {
		return stmtErr(i, "NotAction is refused: it grants (or denies) every action but the ones named, including ones AWS adds later")
	}
	for _, k := range []string{"Principal", "NotPrincipal"} {
		if _, ok := st[k]; ok {
			return stmtErr(i, "%s has no place in a policy attached to a user or role", k)
		}
	}
	actions, err := stringList(st["Action"])
	if err != nil {
		return stmtErr(i, "Action %v", err)
	}
	for _, a := range actions {
		if !actionRE.MatchString(a) {
			return stmtErr(i, "action %q is not service:ActionName", a)
		}
	}
	_, hasRes := st["Resource"]
	_, hasNotRes := st["NotResource"]
	switch {
	case hasRes && hasNotRes:
		return stmtErr(i, "give Resource or NotResource, not both")
	case hasNotRes && effect == "Allow":
		return stmtErr(i, "NotResource in an Allow statement is refused: it grants every resource but the ones named")
	case hasNotRes:
		if _, err := stringList(st["NotResource"]); err != nil {
			return stmtErr(i, "NotResource %v", err)
		}
	default:
		if _, err := stringList(st["Resource"]); err != nil {
			return stmtErr(i, "Resource %v", err)
		}
	}
	if c, ok := st["Condition"]; ok {
		if err := checkCondition(c); err != nil {
			return stmtErr(i, "Condition %v", err)
		}
	}
	return nil
}

// stringList reads an element that IAM accepts as a string or a list of
// strings; it must not be absent or empty.
func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, errors.New("is required")
	case string:
		if x == "" {
			return nil, errors.New("must not be empty")
		}
		return []string{x}, nil
	case []any:
		if len(x) == 0 {
			return nil, errors.New("must not be an empty list")
		}
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, errors.New("must be a string or a list of non-empty strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("must be a string or a list of strings")
}

// baseOperator strips the set prefixes and IfExists suffix of a
// condition operator: "ForAnyValue:DateLessThanIfExists" is DateLessThan.
func baseOperator(op string) string {
	if _, rest, ok := strings.Cut(op, ":"); ok {
		op = rest
	}
	return strings.TrimSuffix(op, "IfExists")
}

func checkCondition(v any) error {
	ops, ok := v.(map[string]any)
	if !ok {
		return errors.New("must be a map of operators")
	}
	for op, keys := range ops {
		km, ok := keys.(map[string]any)
		if !ok || op == "" {
			return fmt.Errorf("operator %q must map condition keys to values", op)
		}
		for k, val := range km {
			if strings.EqualFold(baseOperator(op), expiryOperator) && strings.EqualFold(k, expiryKey) {
				return fmt.Errorf("%s on %s is written by jit (the grant's expiry); leave it out", op, k)
			}
			if err := checkConditionValue(val); err != nil {
				return fmt.Errorf("%s %s: %v", op, k, err)
			}
		}
	}
	return nil
}

func checkConditionValue(v any) error {
	switch x := v.(type) {
	case string, bool, json.Number:
		return nil
	case []any:
		for _, e := range x {
			switch e.(type) {
			case string, bool, json.Number:
			default:
				return errors.New("values must be strings, numbers or booleans")
			}
		}
		return nil
	}
	return errors.New("must be a value or a list of values")
}

// Services whose write actions let a person widen their own access or
// act as someone else: only reads (Get, List, Describe) of them pass
// Check without allow_actions. STS has its own rule; see Check.
var readOnlyServices = []string{"iam", "organizations", "sso", "sso-directory", "identitystore", "identitystore-auth"}

var readVerbs = []string{"get", "list", "describe"}

// stsSessionActions hand out sessions: a role's (AssumeRole and its SAML
// and web identity forms) or a federated user's (GetFederationToken).
// AWS ends such a session only at its own expiry (up to the role's
// maximum session duration, 12 hours; 36 hours for a federation token),
// not when the policy that allowed it is deleted or its condition ends,
// so the access would outlive the grant. They pass Check only when
// allow_actions lists them.
var stsSessionActions = []string{"assumerole", "assumerolewithsaml", "assumerolewithwebidentity", "getfederationtoken"}

// stsRoleActions add to a role session being made (AssumeRole itself
// must be allowed too); they pass Check only on named roles.
var stsRoleActions = []string{"tagsession", "setsourceidentity"}

// stsHarmless are STS actions that grant nothing.
var stsHarmless = []string{"getcalleridentity", "getaccesskeyinfo", "decodeauthorizationmessage"}

// Check refuses what a policy grants that could reach beyond it, in its
// Allow statements (Deny statements only take away): an action over every
// service ("*", "*:Get*"); in IAM, Organizations and Identity Center
// anything but reads (so iam:PassRole, iam:Pass*, iam:*, organizations:*);
// in STS, any wildcard, role assumption and the federation and session
// token calls, whose sessions outlive the grant (see stsSessionActions),
// and session tags or source identity on a wildcard resource.
// allow lists actions (as written in the policy, compared without case)
// that pass anyway. A refusal is a *PolicyError naming the action.
func (p *Policy) Check(allow []string) error {
	allowed := func(a string) bool {
		return slices.ContainsFunc(allow, func(x string) bool { return strings.EqualFold(x, a) })
	}
	for i, st := range p.statements {
		if st["Effect"] != "Allow" {
			continue
		}
		actions, _ := stringList(st["Action"])
		resources, _ := stringList(st["Resource"])
		for _, a := range actions {
			if allowed(a) {
				continue
			}
			if reason := actionRisk(a, resources); reason != "" {
				return stmtErr(i, "action %q %s; list it in allow_actions to grant it anyway", a, reason)
			}
		}
	}
	return nil
}

// actionRisk says why action a on resources is refused, or "".
func actionRisk(a string, resources []string) string {
	la := strings.ToLower(a)
	if la == "*" {
		return "grants every action of every service"
	}
	svc, name, _ := strings.Cut(la, ":")
	if strings.ContainsAny(svc, "*?") {
		return "names a wildcard service"
	}
	wild := strings.ContainsAny(name, "*?")
	if slices.Contains(readOnlyServices, svc) {
		for _, verb := range readVerbs {
			if strings.HasPrefix(name, verb) {
				return ""
			}
		}
		if wild {
			return "is a wildcard over " + svc + " that reaches beyond reads"
		}
		return "can change " + svc + " (only Get, List and Describe pass)"
	}
	if svc == "sts" {
		switch {
		case wild:
			return "is a wildcard over sts"
		case slices.Contains(stsHarmless, name):
			return ""
		case slices.Contains(stsSessionActions, name):
			return "issues sessions that outlive the grant (AWS ends them at their own expiry, up to 12 hours for a role, 36 for a federation token, not when jit removes the policy)"
		case slices.Contains(stsRoleActions, name):
			for _, r := range resources {
				if strings.ContainsAny(r, "*?") {
					return "applies to roles named by a wildcard resource"
				}
			}
			return ""
		default:
			return "issues sessions or credentials that outlive a revoke"
		}
	}
	return ""
}

// Bound returns the policy as jit puts it on a principal (compact JSON):
// marker as its Id, and on every statement a DateLessThan condition on
// aws:CurrentTime at end (RFC 3339, UTC, whole seconds), added to the
// statement's other conditions, so that AWS stops honouring the policy at
// end by itself.
func (p *Policy) Bound(end time.Time, marker string) ([]byte, error) {
	if end.IsZero() {
		return nil, errors.New("the grant has no expiry")
	}
	stamp := end.UTC().Truncate(time.Second).Format(time.RFC3339)
	stmts := make([]any, 0, len(p.statements))
	for _, st := range p.statements {
		out := make(map[string]any, len(st)+1)
		for k, v := range st {
			if k != "Condition" {
				out[k] = v
			}
		}
		cond := map[string]any{}
		if c, ok := st["Condition"].(map[string]any); ok {
			for op, keys := range c {
				km, _ := keys.(map[string]any)
				cp := make(map[string]any, len(km)+1)
				for k, v := range km {
					cp[k] = v
				}
				cond[op] = cp
			}
		}
		dl, _ := cond[expiryOperator].(map[string]any)
		if dl == nil {
			dl = map[string]any{}
			cond[expiryOperator] = dl
		}
		dl[expiryKey] = stamp
		out["Condition"] = cond
		stmts = append(stmts, out)
	}
	doc := map[string]any{"Version": p.version, "Id": marker, "Statement": stmts}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("write policy document: %w", err)
	}
	return b, nil
}

// BoundPolicy is what jit reads back from a policy it put.
type BoundPolicy struct {
	// Marker is the policy's Id, when jit wrote it.
	Marker Marker
	Marked bool
	// Until is the latest DateLessThan aws:CurrentTime of the statements:
	// when AWS stops honouring all of them. Bounded is false when some
	// statement carries none (the policy was edited by hand).
	Until   time.Time
	Bounded bool
}

// ReadBound reads a policy document as stored in AWS. It is lenient
// (the document may have been edited) but never guesses: an expiry it
// cannot read leaves Bounded false.
func ReadBound(doc []byte) (BoundPolicy, error) {
	v, err := decodeStrict(doc)
	if err != nil {
		return BoundPolicy{}, fmt.Errorf("policy document: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return BoundPolicy{}, errors.New("policy document: not a JSON object")
	}
	var bp BoundPolicy
	if id, ok := top["Id"].(string); ok {
		bp.Marker, bp.Marked = ParseMarker(id)
	}
	var stmts []any
	switch st := top["Statement"].(type) {
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
	}
	bp.Bounded = len(stmts) > 0
	for _, s := range stmts {
		t, ok := statementBound(s)
		if !ok {
			bp.Bounded = false
			break
		}
		if t.After(bp.Until) {
			bp.Until = t
		}
	}
	if !bp.Bounded || bp.Until.IsZero() {
		// A bound at the zero time is no bound jit wrote.
		bp.Bounded, bp.Until = false, time.Time{}
	}
	return bp, nil
}

func statementBound(s any) (time.Time, bool) {
	st, _ := s.(map[string]any)
	cond, _ := st["Condition"].(map[string]any)
	dl, _ := cond[expiryOperator].(map[string]any)
	v, _ := dl[expiryKey].(string)
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// Size is the length of doc as IAM counts it against its inline policy
// quotas: without whitespace outside strings.
func Size(doc []byte) int {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return len(doc)
	}
	return buf.Len()
}
