package aws

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/aws/awstest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testOptions(c *clock) Options {
	o := Options{Credentials: awstest.CredentialsProvider(), PollInterval: time.Millisecond, Getenv: func(string) string { return "" }}
	if c != nil {
		o.Now = c.Now
	}
	return o
}

const readPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}`

func iamSettings(srv *awstest.IAM, kind, name string) map[string]any {
	m := map[string]any{
		"endpoint":       srv.URL(),
		"principal_type": kind,
		"principal_name": name,
		"policies":       map[string]any{"read": readPolicy},
	}
	if strings.Contains(name, "{local}") {
		m["email_domain"] = "example.com"
	}
	return m
}

func newIAM(t *testing.T, settings map[string]any, c *clock) *IAM {
	t.Helper()
	p, err := NewIAMWithOptions(provider.Resource{Name: "aws-test", Type: TypeIAM, Settings: settings, Access: []string{"read"}}, testOptions(c))
	if err != nil {
		t.Fatalf("NewIAMWithOptions: %v", err)
	}
	return p
}

func ssoSettings(srv *awstest.IdentityCenter) map[string]any {
	return map[string]any{
		"region":            "eu-west-1",
		"endpoint":          srv.URL(),
		"instance_arn":      srv.InstanceARN,
		"identity_store_id": srv.IdentityStoreID,
		"account_id":        "111122223333",
		"permission_sets":   map[string]any{"read": srv.PermissionSetARN(1), "admin": srv.PermissionSetARN(2)},
	}
}

func newSSO(t *testing.T, settings map[string]any, c *clock) *SSO {
	t.Helper()
	p, err := NewSSOWithOptions(provider.Resource{Name: "aws-test", Type: TypeSSO, Settings: settings, Access: []string{"read", "admin"}}, testOptions(c))
	if err != nil {
		t.Fatalf("NewSSOWithOptions: %v", err)
	}
	return p
}

func wantRefused(t *testing.T, err error, substr string) {
	t.Helper()
	var re *provider.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want a *provider.RefusedError", err)
	}
	if !strings.Contains(re.Reason, substr) {
		t.Errorf("reason %q does not mention %q", re.Reason, substr)
	}
}
