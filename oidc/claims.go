package oidc

import (
	"net/mail"
	"strings"
)

// maxGroups bounds the groups taken from one token.
const maxGroups = 1000

// readIdentity reads the email and groups from verified claims.
func readIdentity(claims map[string]any, emailClaim, groupsClaim string, allowUnverified bool) (string, []string, error) {
	v, ok := claims[emailClaim]
	if !ok || v == nil {
		return "", nil, fail(ErrIdentity, "the token has no %q claim (is the email scope granted?)", emailClaim)
	}
	email, ok := v.(string)
	if !ok || !plausibleEmail(email) {
		return "", nil, fail(ErrIdentity, "the %q claim is not an email address", emailClaim)
	}
	if ev, present := claims["email_verified"]; present && !allowUnverified && !isTrue(ev) {
		return "", nil, fail(ErrIdentity, "the identity provider has not verified the email address")
	}
	groups, err := readGroups(claims[groupsClaim], groupsClaim)
	if err != nil {
		return "", nil, err
	}
	return strings.ToLower(email), groups, nil
}

// isTrue accepts the boolean true and, since some providers send claims as
// strings, "true".
func isTrue(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

// readGroups accepts no claim, a string or a list of strings; it drops
// empty names and repeats and keeps the order.
func readGroups(v any, name string) ([]string, error) {
	var list []any
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		list = []any{t}
	case []any:
		list = t
	default:
		return nil, fail(ErrIdentity, "the %q claim is neither a string nor a list", name)
	}
	if len(list) > maxGroups {
		return nil, fail(ErrIdentity, "the %q claim has %d entries; at most %d are accepted", name, len(list), maxGroups)
	}
	var out []string
	seen := map[string]bool{}
	for _, g := range list {
		s, ok := g.(string)
		if !ok {
			return nil, fail(ErrIdentity, "the %q claim holds something other than a string", name)
		}
		if strings.TrimSpace(s) == "" || seen[s] {
			continue
		}
		if !plausibleGroup(s) {
			return nil, fail(ErrIdentity, "the %q claim holds a name with control characters or over 256 bytes", name)
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, nil
}

func plausibleGroup(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// plausibleEmail accepts a bare addr-spec with a dotted domain: no display
// name, no spaces or control characters, within the length RFC 5321 allows.
func plausibleEmail(s string) bool {
	if len(s) < 3 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") &&
		!strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}
