package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/aws/awstest"
	"github.com/jitaccess/jit/provider/providertest"
)

func TestIAMConformanceRole(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddRole("ops", "")
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return newIAM(t, iamSettings(srv, "role", "ops"), nil) },
		Resource: "aws-test", Access: "read",
		Present: func(t *testing.T, id string) bool {
			_, ok := srv.Policy("role", "ops", PolicyName(id))
			return ok
		},
	})
}

func TestIAMConformanceUserTemplate(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddUser("conformance", "/people/")
	srv.AddUser("other", "/people/")
	srv.AddUser("robot", "/machines/")
	settings := iamSettings(srv, "user", "{local}")
	settings["path_prefix"] = "/people/"
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return newIAM(t, settings, nil) },
		Resource: "aws-test", Access: "read", User: "conformance@example.com",
		Present: func(t *testing.T, id string) bool {
			_, ok := srv.Policy("user", "conformance", PolicyName(id))
			return ok
		},
	})
}

// storedStatements decodes the statements of a stored policy.
func storedStatements(t *testing.T, doc string) (string, []map[string]any) {
	t.Helper()
	var d struct {
		ID        string           `json:"Id"`
		Statement []map[string]any `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("stored document is not JSON: %v\n%s", err, doc)
	}
	return d.ID, d.Statement
}

func TestIAMGrantBoundsEveryStatement(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddRole("ops", "")
	settings := iamSettings(srv, "role", "ops")
	settings["policies"] = map[string]any{"read": `{
		"Version": "2012-10-17",
		"Statement": [
			{"Sid": "Regional", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*",
			 "Condition": {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]},
			               "DateLessThan": {"aws:TokenIssueTime": "2030-01-01T00:00:00Z"}}},
			{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*",
			 "Condition": {"Bool": {"aws:SecureTransport": true}, "NumericLessThan": {"s3:max-keys": 10}}},
			{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}
		]}`}
	c := newClock()
	p := newIAM(t, settings, c)
	end := c.Now().Add(90 * time.Minute)
	resp, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_bound", User: "alice@example.com", Access: "read", ExpiresAt: end})
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := srv.Policy("role", "ops", "jit-req_bound")
	if !ok {
		t.Fatal("no inline policy jit-req_bound on role ops")
	}
	id, stmts := storedStatements(t, doc)
	if len(stmts) != 3 {
		t.Fatalf("stored %d statements, want 3", len(stmts))
	}
	stamp := end.UTC().Format(time.RFC3339)
	for i, st := range stmts {
		cond, _ := st["Condition"].(map[string]any)
		dl, _ := cond["DateLessThan"].(map[string]any)
		if dl["aws:CurrentTime"] != stamp {
			t.Errorf("statement %d: DateLessThan aws:CurrentTime = %v, want %s", i, dl["aws:CurrentTime"], stamp)
		}
	}
	c0, _ := stmts[0]["Condition"].(map[string]any)
	if se, _ := c0["StringEquals"].(map[string]any); len(se["aws:RequestedRegion"].([]any)) != 2 {
		t.Errorf("statement 1 lost its StringEquals condition: %v", c0)
	}
	if dl, _ := c0["DateLessThan"].(map[string]any); dl["aws:TokenIssueTime"] != "2030-01-01T00:00:00Z" {
		t.Errorf("statement 1 lost its own DateLessThan key: %v", dl)
	}
	if stmts[0]["Sid"] != "Regional" {
		t.Errorf("statement 1 lost its Sid")
	}
	c1, _ := stmts[1]["Condition"].(map[string]any)
	if b, _ := c1["Bool"].(map[string]any); b["aws:SecureTransport"] != true {
		t.Errorf("statement 2 lost its Bool condition: %v", c1)
	}
	if n, _ := c1["NumericLessThan"].(map[string]any); n["s3:max-keys"] != float64(10) {
		t.Errorf("statement 2 lost its numeric condition: %v", c1)
	}
	m, ok := ParseMarker(id)
	if !ok || m.RequestID != "req_bound" || m.User != "alice@example.com" || m.Access != "read" || !m.ExpiresAt.Equal(end) {
		t.Errorf("policy Id = %q, want the marker of the request", id)
	}
	v, err := p.Verify(context.Background(), provider.VerifyRequest{RequestID: "req_bound", User: "alice@example.com", Access: "read", Handle: resp.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(end) {
		t.Errorf("Verify = %+v, want present until %s", v, stamp)
	}
}

func TestIAMYAMLPolicy(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddRole("ops", "")
	settings := iamSettings(srv, "role", "ops")
	settings["policies"] = map[string]any{"read": map[any]any{
		"Version": "2012-10-17",
		"Statement": []any{map[any]any{
			"Effect": "Allow", "Action": []any{"s3:GetObject"}, "Resource": "*",
			"Condition": map[any]any{"NumericLessThan": map[any]any{"s3:max-keys": 5}},
		}},
	}}
	p := newIAM(t, settings, nil)
	if _, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_yaml", User: "a@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	doc, _ := srv.Policy("role", "ops", "jit-req_yaml")
	if !strings.Contains(doc, `"s3:max-keys":5`) || !strings.Contains(doc, "aws:CurrentTime") {
		t.Errorf("stored document = %s", doc)
	}
}

func TestIAMGrantIsIdempotentAndExtends(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddRole("ops", "")
	c := newClock()
	p := newIAM(t, iamSettings(srv, "role", "ops"), c)
	req := provider.GrantRequest{RequestID: "req_twice", User: "a@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)}
	for range 2 {
		if _, err := p.Grant(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Policies("role", "ops"); len(got) != 1 {
		t.Fatalf("policies after two grants = %v, want one", got)
	}
	req.ExpiresAt = c.Now().Add(3 * time.Hour)
	if _, err := p.Grant(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	doc, _ := srv.Policy("role", "ops", "jit-req_twice")
	if bp, _ := ReadBound([]byte(doc)); !bp.Until.Equal(req.ExpiresAt) {
		t.Errorf("after a grant with a later expiry, the policy ends at %s, want %s", bp.Until, req.ExpiresAt)
	}
}

func TestIAMRevokeAbsent(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddUser("alice", "")
	p := newIAM(t, iamSettings(srv, "user", "{local}"), nil)
	ctx := context.Background()
	// The policy is not there, then the principal is not there either.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_none", User: "alice@example.com", Access: "read"}); err != nil {
		t.Errorf("revoke of a policy never put: %v", err)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_none", User: "ghost@example.com", Access: "read"}); err != nil {
		t.Errorf("revoke on a user that does not exist: %v", err)
	}
	if srv.Calls("DeleteUserPolicy") != 2 {
		t.Errorf("DeleteUserPolicy calls = %d, want 2", srv.Calls("DeleteUserPolicy"))
	}
	// A user name the template cannot make: nothing can exist.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_none", User: "bad name@example.com", Access: "read"}); err != nil {
		t.Errorf("revoke for an impossible principal: %v", err)
	}
}

func TestIAMGrantErrors(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddUser("alice", "")
	c := newClock()
	p := newIAM(t, iamSettings(srv, "user", "{local}"), c)
	ctx := context.Background()
	base := provider.GrantRequest{RequestID: "req_err", User: "alice@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)}
	cases := map[string]func(r *provider.GrantRequest){
		"no such user":      func(r *provider.GrantRequest) { r.User = "bob@example.com" },
		"expired":           func(r *provider.GrantRequest) { r.ExpiresAt = c.Now().Add(-time.Second) },
		"no expiry":         func(r *provider.GrantRequest) { r.ExpiresAt = time.Time{} },
		"unknown level":     func(r *provider.GrantRequest) { r.Access = "admin" },
		"bad request ID":    func(r *provider.GrantRequest) { r.RequestID = "req/../x" },
		"target":            func(r *provider.GrantRequest) { r.Target = "x" },
		"user with a space": func(r *provider.GrantRequest) { r.User = "a b@example.com" },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			r := base
			mod(&r)
			_, err := p.Grant(ctx, r)
			if err == nil || !provider.IsNotApplied(err) {
				t.Errorf("Grant: %v, want a NotApplied error", err)
			}
		})
	}
	if got := srv.Policies("user", "alice"); len(got) != 0 {
		t.Errorf("failed grants left policies: %v", got)
	}
	srv.FailNext("PutUserPolicy", "MalformedPolicyDocument")
	_, err := p.Grant(ctx, base)
	if err == nil || !provider.IsNotApplied(err) || errorCode(err) != "MalformedPolicyDocument" {
		t.Errorf("Grant refused as malformed: %v, want NotApplied MalformedPolicyDocument", err)
	}
}

func TestIAMQuotaAtGrant(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddUser("alice", "")
	// Someone's own inline policies fill most of the user's quota.
	srv.SetPolicy("user", "alice", "big", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+strings.Repeat("b", 1800)+`"}]}`)
	p := newIAM(t, iamSettings(srv, "user", "{local}"), nil)
	_, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_q", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if err == nil || !provider.IsNotApplied(err) || errorCode(err) != "LimitExceeded" {
		t.Errorf("Grant over quota: %v, want NotApplied LimitExceeded", err)
	}
}

func TestIAMCheck(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddUser("alice", "")
	p := newIAM(t, iamSettings(srv, "user", "{local}"), nil)
	ctx := context.Background()
	resp, err := p.Check(ctx, provider.CheckRequest{Resource: "aws-test", User: "alice@example.com", Access: "read"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Summary, "alice") {
		t.Errorf("summary %q does not name the user", resp.Summary)
	}
	_, err = p.Check(ctx, provider.CheckRequest{User: "bob@example.com", Access: "read"})
	wantRefused(t, err, "no IAM user named bob")
	_, err = p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "admin"})
	wantRefused(t, err, `"admin"`)
	_, err = p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read", Target: "x"})
	wantRefused(t, err, "no target")
	_, err = p.Check(ctx, provider.CheckRequest{User: "al/ice@example.com", Access: "read"})
	wantRefused(t, err, "not an IAM user name")
	// Another domain's alice is not IAM user alice.
	_, err = p.Check(ctx, provider.CheckRequest{User: "alice@partner.example", Access: "read"})
	wantRefused(t, err, "not an address of example.com")
	_, err = p.Grant(ctx, provider.GrantRequest{RequestID: "req_d", User: "alice@partner.example", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if !provider.IsNotApplied(err) || len(srv.Policies("user", "alice")) != 0 {
		t.Errorf("Grant for another domain = %v, policies %v", err, srv.Policies("user", "alice"))
	}
}

func TestIAMSweep(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddRole("ops", "")
	c := newClock()
	p := newIAM(t, iamSettings(srv, "role", "ops"), c)
	ctx := context.Background()
	for id, d := range map[string]time.Duration{"req_short": time.Hour, "req_long": 3 * time.Hour} {
		if _, err := p.Grant(ctx, provider.GrantRequest{RequestID: id, User: "a@example.com", Access: "read", ExpiresAt: c.Now().Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	// A person's own policy, and policies named like jit's without jit's
	// marker for that request: one whose expiry cannot be read, one with
	// an ended bound of its own, one carrying the marker of another
	// request. None is listed, swept or otherwise touched.
	srv.SetPolicy("role", "ops", "keep-me", readPolicy)
	srv.SetPolicy("role", "ops", "jit-req_handmade", readPolicy)
	ended := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2001-01-01T00:00:00Z"}}}]}`
	srv.SetPolicy("role", "ops", "jit-req_oldhand", ended)
	forged := `{"Version":"2012-10-17","Id":"` + Marker{RequestID: "req_other", User: "x@example.com", ExpiresAt: c.Now().Add(-time.Hour)}.String() +
		`","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2001-01-01T00:00:00Z"}}}]}`
	srv.SetPolicy("role", "ops", "jit-req_forged", forged)

	list, err := p.List(ctx, provider.ListRequest{Resource: "aws-test"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]provider.ListedGrant{}
	for _, g := range list.Grants {
		got[g.RequestID] = g
	}
	if len(got) != 2 || got["req_short"].User != "a@example.com" || got["req_short"].Access != "read" || got["req_short"].ExpiresAt == nil || got["req_long"].ExpiresAt == nil {
		t.Errorf("List = %+v, want req_short and req_long (with user, level, expiry) only", list.Grants)
	}

	n, err := p.Sweep(ctx)
	if err != nil || n != 0 {
		t.Fatalf("Sweep before any expiry = %d, %v; want 0", n, err)
	}
	c.Add(90 * time.Minute)
	n, err = p.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep after the first expiry = %d, %v; want 1", n, err)
	}
	want := []string{"jit-req_forged", "jit-req_handmade", "jit-req_long", "jit-req_oldhand", "keep-me"}
	if got := srv.Policies("role", "ops"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("policies after sweep = %v, want %v", got, want)
	}
	c.Add(2 * time.Hour)
	if n, err := p.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("second Sweep = %d, %v; want 1", n, err)
	}
	if n, err := p.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("third Sweep = %d, %v; want 0 (idempotent)", n, err)
	}
	want = []string{"jit-req_forged", "jit-req_handmade", "jit-req_oldhand", "keep-me"}
	if got := srv.Policies("role", "ops"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("policies after the last sweep = %v, want %v", got, want)
	}
}

func TestIAMSweepTemplatedUsers(t *testing.T) {
	srv := awstest.NewIAM(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(u, "")
	}
	c := newClock()
	p := newIAM(t, iamSettings(srv, "user", "{local}"), c)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := p.Grant(ctx, provider.GrantRequest{RequestID: "req_" + u, User: u + "@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(2 * time.Hour)
	// Three users over two pages of ListUsers.
	if n, err := p.Sweep(ctx); err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3", n, err)
	}
}

func TestIAMHostilePoliciesRefusedAtLoad(t *testing.T) {
	srv := awstest.NewIAM(t)
	stmt := func(action string, resource string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":` + action + `,"Resource":"` + resource + `"}]}`
	}
	cases := map[string]string{
		"star":              stmt(`"*"`, "*"),
		"star in list":      stmt(`["s3:GetObject","*"]`, "*"),
		"wildcard service":  stmt(`"*:Get*"`, "*"),
		"iam star":          stmt(`"iam:*"`, "*"),
		"iam pass wildcard": stmt(`"iam:Pass*"`, "*"),
		"iam passrole":      stmt(`"iam:PassRole"`, "arn:aws:iam::111122223333:role/x"),
		"iam case":          stmt(`"IAM:putUserPolicy"`, "*"),
		"organizations":     stmt(`"organizations:*"`, "*"),
		"sso write":         stmt(`"sso:CreateAccountAssignment"`, "*"),
		"assume star":       stmt(`"sts:AssumeRole"`, "*"),
		"assume wildcard":   stmt(`"sts:AssumeRole"`, "arn:aws:iam::*:role/admin"),
		"sts wildcard":      stmt(`"sts:*"`, "arn:aws:iam::111122223333:role/x"),
		"federation":        stmt(`"sts:GetFederationToken"`, "*"),
		"federation named":  stmt(`"sts:GetFederationToken"`, "arn:aws:sts::111122223333:federated-user/x"),
		"assume named role": stmt(`"sts:AssumeRole"`, "arn:aws:iam::111122223333:role/reader"),
		"assume case":       stmt(`"STS:assumerole"`, "arn:aws:iam::111122223333:role/reader"),
		"assume saml":       stmt(`"sts:AssumeRoleWithSAML"`, "arn:aws:iam::111122223333:role/reader"),
		"assume web":        stmt(`"sts:AssumeRoleWithWebIdentity"`, "arn:aws:iam::111122223333:role/reader"),
		"tag session star":  stmt(`"sts:TagSession"`, "*"),
		"not action":        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}]}`,
		"deny not action":   `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}]}`,
		"not resource":      `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::x"}]}`,
		"principal":         `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}`,
		"duplicate key":     `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Action":"*","Resource":"*"}]}`,
		"case duplicate":    `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","action":"*","Resource":"*"}]}`,
		"own expiry":        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2099-01-01T00:00:00Z"}}}]}`,
		"id":                `{"Version":"2012-10-17","Id":"x","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
		"not json":          `{"Version":`,
		"trailing":          readPolicy + `{}`,
		"no statement":      `{"Version":"2012-10-17"}`,
		"lower-case effect": `{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"s3:GetObject","Resource":"*"}]}`,
		"no resource":       `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}`,
		"old version":       `{"Version":"2001-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
		"over quota":        stmt(`"s3:GetObject"`, "arn:aws:s3:::"+strings.Repeat("x", 2100)),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			settings := iamSettings(srv, "user", "{local}")
			settings["policies"] = map[string]any{"read": doc}
			_, err := NewIAMWithOptions(provider.Resource{Name: "r", Settings: settings, Access: []string{"read"}}, testOptions(nil))
			if err == nil {
				t.Fatalf("policy accepted:\n%s", doc)
			}
			var se *provider.SettingError
			if !errors.As(err, &se) || se.Key != "policies.read" {
				t.Errorf("error %v does not name setting policies.read", err)
			}
		})
	}
	// Harmless use of the sensitive services passes, and allow_actions
	// lets a named sensitive action through.
	ok := map[string]struct {
		doc   string
		allow []any
	}{
		"iam reads":            {stmt(`["iam:Get*","iam:ListRoles"]`, "*"), nil},
		"assume role allowed":  {stmt(`"sts:AssumeRole"`, "arn:aws:iam::111122223333:role/reader"), []any{"sts:AssumeRole"}},
		"tag a named role":     {stmt(`"sts:TagSession"`, "arn:aws:iam::111122223333:role/reader"), nil},
		"caller identity":      {stmt(`"sts:GetCallerIdentity"`, "*"), nil},
		"passrole allowed":     {stmt(`"iam:PassRole"`, "arn:aws:iam::111122223333:role/x"), []any{"iam:passrole"}},
		"assume star allowed":  {stmt(`"sts:AssumeRole"`, "*"), []any{"sts:AssumeRole"}},
		"deny wildcard":        {`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, nil},
		"deny not resource":    {`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::x/*"},{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, nil},
		"single statement obj": {`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`, nil},
	}
	for name, c := range ok {
		t.Run(name, func(t *testing.T) {
			settings := iamSettings(srv, "user", "{local}")
			settings["policies"] = map[string]any{"read": c.doc}
			if c.allow != nil {
				settings["allow_actions"] = c.allow
			}
			if _, err := NewIAMWithOptions(provider.Resource{Name: "r", Settings: settings, Access: []string{"read"}}, testOptions(nil)); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// TestIAMRoleSessionsNeedAllowActions: a role session (or a federation
// token) outlives the grant that allowed it to be made, so the actions
// that make one are granted only when allow_actions names them, each for
// itself.
func TestIAMRoleSessionsNeedAllowActions(t *testing.T) {
	srv := awstest.NewIAM(t)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:AssumeRoleWithWebIdentity"],"Resource":"arn:aws:iam::111122223333:role/reader"}]}`
	for _, c := range []struct {
		allow []any
		want  string // "" when accepted
	}{
		{nil, `action "sts:AssumeRole" issues sessions that outlive the grant`},
		{[]any{"sts:AssumeRole"}, `action "sts:AssumeRoleWithWebIdentity" issues sessions that outlive the grant`},
		{[]any{"sts:assumerole", "STS:AssumeRoleWithWebIdentity"}, ""},
	} {
		settings := iamSettings(srv, "role", "ops")
		settings["policies"] = map[string]any{"read": doc}
		if c.allow != nil {
			settings["allow_actions"] = c.allow
		}
		_, err := NewIAMWithOptions(provider.Resource{Name: "r", Settings: settings, Access: []string{"read"}}, testOptions(nil))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("allow_actions %v: refused: %v", c.allow, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "allow_actions")):
			t.Errorf("allow_actions %v: error %v, want one mentioning %q and allow_actions", c.allow, err, c.want)
		}
	}
}

func TestIAMSettings(t *testing.T) {
	srv := awstest.NewIAM(t)
	cases := map[string]struct {
		mod func(m map[string]any)
		key string
	}{
		"principal type":    {func(m map[string]any) { m["principal_type"] = "group" }, "principal_type"},
		"no email domain":   {func(m map[string]any) { delete(m, "email_domain") }, "email_domain"},
		"bad email domain":  {func(m map[string]any) { m["email_domain"] = "@example.com" }, "email_domain"},
		"placeholder":       {func(m map[string]any) { m["principal_name"] = "{name}" }, "principal_name"},
		"bad name":          {func(m map[string]any) { m["principal_name"] = "a/b" }, "principal_name"},
		"no policies":       {func(m map[string]any) { delete(m, "policies") }, "policies"},
		"level missing":     {func(m map[string]any) { m["policies"] = map[string]any{"other": readPolicy} }, "policies.other"},
		"endpoint":          {func(m map[string]any) { m["endpoint"] = "ftp://x" }, "endpoint"},
		"region":            {func(m map[string]any) { m["region"] = "Mars" }, "region"},
		"path prefix":       {func(m map[string]any) { m["path_prefix"] = "people" }, "path_prefix"},
		"allow actions":     {func(m map[string]any) { m["allow_actions"] = []any{"not an action"} }, "allow_actions"},
		"unknown setting":   {func(m map[string]any) { m["polices"] = "x" }, "polices"},
		"policy not string": {func(m map[string]any) { m["policies"] = map[string]any{"read": 3} }, "policies.read"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			settings := iamSettings(srv, "user", "{local}")
			c.mod(settings)
			_, err := NewIAMWithOptions(provider.Resource{Name: "r", Settings: settings, Access: []string{"read"}}, testOptions(nil))
			var se *provider.SettingError
			if !errors.As(err, &se) {
				t.Fatalf("error = %v, want a setting error", err)
			}
			if !strings.Contains(err.Error(), `"`+c.key+`"`) {
				t.Errorf("error %v does not name %s", err, c.key)
			}
		})
	}
}

func TestIAMRegistered(t *testing.T) {
	srv := awstest.NewIAM(t)
	_, err := provider.New(provider.Resource{Name: "r", Type: TypeIAM, Settings: iamSettings(srv, "role", "ops"), Access: []string{"read"}})
	if err != nil {
		t.Errorf("provider.New(%s): %v", TypeIAM, err)
	}
}

// TestIAMCredentialsFromEnvironment builds the AWS configuration as in
// production (no credentials injected): the chain reads the environment.
func TestIAMCredentialsFromEnvironment(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddRole("ops", "")
	env := map[string]string{envAccessKeyID: awstest.Credentials.AccessKeyID, envSecretAccessKey: awstest.Credentials.SecretAccessKey}
	p, err := NewIAMWithOptions(provider.Resource{Name: "r", Settings: iamSettings(srv, "role", "ops"), Access: []string{"read"}}, Options{Getenv: envOf(env)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_env", User: "a@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("Grant with credentials from the environment: %v", err)
	}
	if _, ok := srv.Policy("role", "ops", "jit-req_env"); !ok {
		t.Errorf("no policy put")
	}
}

// lostAnswer carries requests to the test server, but for the first one
// of action it drops the answer after the server applied the call, as a
// connection reset would, and has the server refuse the next one of
// action with code.
type lostAnswer struct {
	srv          *awstest.IAM
	action, code string
	mu           sync.Mutex
	done         bool
}

func (l *lostAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || !strings.Contains(string(body), "Action="+l.action+"&") {
		return resp, nil
	}
	l.done = true
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.srv.FailNext(l.action, l.code)
	return nil, errors.New("read tcp 127.0.0.1:1234: connection reset by peer")
}

// TestIAMGrantLostAnswerIsNotNotApplied: when IAM applied a put but its
// answer was lost, a refusal of a later attempt of the same call does
// not prove that nothing was done, so the grant must not say NotApplied.
func TestIAMGrantLostAnswerIsNotNotApplied(t *testing.T) {
	srv := awstest.NewIAM(t)
	srv.AddUser("alice", "")
	c := newClock()
	o := testOptions(c)
	o.HTTPClient = &http.Client{Transport: &lostAnswer{srv: srv, action: "PutUserPolicy", code: "LimitExceeded"}}
	p, err := NewIAMWithOptions(provider.Resource{Name: "aws-test", Type: TypeIAM, Settings: iamSettings(srv, "user", "{local}"), Access: []string{"read"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_lost", User: "alice@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)})
	if _, present := srv.Policy("user", "alice", PolicyName("req_lost")); !present {
		t.Fatalf("the test did not play its part: no policy was put (err %v)", err)
	}
	if err == nil {
		t.Fatalf("Grant succeeded; want an error of unknown outcome")
	}
	if provider.IsNotApplied(err) {
		t.Errorf("Grant = %v: NotApplied although the policy was put", err)
	}
}
