package kubernetes

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// IAMPrincipal is an IAM role or user ARN, parsed by ParseIAMARN.
type IAMPrincipal struct {
	// Partition is "aws", "aws-cn", "aws-us-gov", ...
	Partition string
	// Account is the 12-digit account ID.
	Account string
	// Type is "role" or "user".
	Type string
	// Path is the IAM path between the type and the name, with its
	// slashes ("/" when there is none, "/team/" for role/team/name).
	Path string
	// Name is the role or user name.
	Name string
}

// String returns the ARN.
func (p IAMPrincipal) String() string {
	return "arn:" + p.Partition + ":iam::" + p.Account + ":" + p.Type + p.Path + p.Name
}

// WithoutPath returns the ARN without its path. The aws-auth ConfigMap
// matches roles that way: the EKS authenticator learns a role from the
// assumed-role ARN STS reports, which carries no path.
func (p IAMPrincipal) WithoutPath() string {
	p.Path = "/"
	return p.String()
}

var (
	arnPartition = regexp.MustCompile(`^aws(-[a-z]+)*$`)
	arnAccount   = regexp.MustCompile(`^[0-9]{12}$`)
	// IAM names and path segments: the characters IAM allows in role and
	// user names.
	iamName = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	iamPath = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,512}$`)
)

// maxARN bounds the input (IAM paths are at most 512 characters).
const maxARN = 700

// ParseIAMARN parses the ARN of an IAM role or user
// ("arn:aws:iam::111122223333:role/admins/alice"). Other principals (an
// STS assumed-role session, a group, a service) are refused, since
// neither the aws-auth ConfigMap nor EKS access entries map them.
func ParseIAMARN(s string) (IAMPrincipal, error) {
	if len(s) > maxARN {
		return IAMPrincipal{}, fmt.Errorf("IAM ARN is longer than %d bytes", maxARN)
	}
	// arn:PARTITION:iam::ACCOUNT:TYPE/PATH/NAME
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return IAMPrincipal{}, fmt.Errorf("%q is not an ARN (arn:aws:iam::ACCOUNT:role/NAME or user/NAME)", s)
	}
	if !arnPartition.MatchString(parts[1]) {
		return IAMPrincipal{}, fmt.Errorf("ARN %q: %q is not an AWS partition", s, parts[1])
	}
	if parts[2] != "iam" || parts[3] != "" {
		return IAMPrincipal{}, fmt.Errorf("ARN %q is not an IAM role or user (arn:%s:iam::ACCOUNT:...)", s, parts[1])
	}
	if !arnAccount.MatchString(parts[4]) {
		return IAMPrincipal{}, fmt.Errorf("ARN %q: the account must be 12 digits", s)
	}
	typ, rest, ok := strings.Cut(parts[5], "/")
	if !ok || (typ != "role" && typ != "user") {
		return IAMPrincipal{}, fmt.Errorf("ARN %q names neither a role nor a user (role/NAME or user/NAME)", s)
	}
	segs := strings.Split(rest, "/")
	name := segs[len(segs)-1]
	if !iamName.MatchString(name) {
		return IAMPrincipal{}, fmt.Errorf("ARN %q: %q is not an IAM %s name (1 to 64 of A-Z a-z 0-9 +=,.@_-)", s, name, typ)
	}
	path := "/"
	if len(segs) > 1 {
		inner := strings.Join(segs[:len(segs)-1], "/")
		for _, seg := range segs[:len(segs)-1] {
			if !iamPath.MatchString(seg) {
				return IAMPrincipal{}, fmt.Errorf("ARN %q: the path has an empty or invalid segment", s)
			}
		}
		if len(inner) > 510 {
			return IAMPrincipal{}, fmt.Errorf("ARN %q: the path is longer than 512 characters", s)
		}
		path = "/" + inner + "/"
	}
	return IAMPrincipal{Partition: parts[1], Account: parts[4], Type: typ, Path: path, Name: name}, nil
}

// ARN template placeholders.
const (
	placeholderEmail = "{email}"
	placeholderLocal = "{local}"
)

// checkARNTemplate validates the iam_arn setting: only the placeholders
// {email} and {local}, and an IAM role or user ARN once they are filled.
func checkARNTemplate(t string) error {
	rest := strings.NewReplacer(placeholderEmail, "", placeholderLocal, "").Replace(t)
	if strings.ContainsAny(rest, "{}") {
		return errors.New("only the placeholders {email} and {local} may appear in braces")
	}
	if _, err := expandARN(t, "someone@example.com"); err != nil {
		return err
	}
	return nil
}

// expandARN fills the template for email and parses the result.
func expandARN(t, email string) (IAMPrincipal, error) {
	if err := checkEmail(email); err != nil {
		return IAMPrincipal{}, err
	}
	local := email[:strings.LastIndex(email, "@")]
	// A '/' or ':' would move the name into the path or another field
	// ("team/admin@example.com" must not become role/team/admin).
	for ph, v := range map[string]string{placeholderEmail: email, placeholderLocal: local} {
		if strings.Contains(t, ph) && !iamChars.MatchString(v) {
			return IAMPrincipal{}, fmt.Errorf("%q has characters an IAM name cannot hold (only A-Z a-z 0-9 +=,.@_-)", v)
		}
	}
	s := strings.NewReplacer(placeholderEmail, email, placeholderLocal, local).Replace(t)
	return ParseIAMARN(s)
}

// iamChars are the characters of IAM names.
var iamChars = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]+$`)

// checkEmail accepts what can name a requester: one '@' with something on
// both sides, no white space or control characters.
func checkEmail(email string) error {
	at := strings.LastIndex(email, "@")
	switch {
	case email == "" || len(email) > 320:
		return fmt.Errorf("%q is not an email address", email)
	case at <= 0 || at == len(email)-1:
		return fmt.Errorf("%q is not an email address (LOCAL@DOMAIN)", email)
	case strings.ContainsFunc(email, isControlOrSpace):
		return fmt.Errorf("%q is not an email address: it contains white space or control characters", email)
	}
	return nil
}

// iamPrincipalFor returns the IAM principal of user, from iam_arns first,
// then the iam_arn template. The error says why none could be derived and
// is safe to show to the requester.
func (e *eksConfig) iamPrincipalFor(user string) (IAMPrincipal, error) {
	if arn, ok := e.arns[strings.ToLower(user)]; ok {
		return ParseIAMARN(arn)
	}
	if e.arnTemplate == "" {
		return IAMPrincipal{}, fmt.Errorf("no IAM principal is configured for %s (eks.iam_arns has no entry and there is no eks.iam_arn template)", user)
	}
	p, err := expandARN(e.arnTemplate, user)
	if err != nil {
		return IAMPrincipal{}, fmt.Errorf("the IAM principal of %s cannot be derived from eks.iam_arn: %w", user, err)
	}
	return p, nil
}
