package aws

import (
	"os"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

// Live tests run the conformance suite against real AWS, with the
// credentials the chain finds (see the package documentation), only
// when every variable they need is set; otherwise they skip, in CI too,
// since no AWS account is reachable there. They create and delete
// assignments, groups and inline policies named jit-req_conf_*.

// liveEnv returns the values of names, or skips the test naming the
// first one unset.
func liveEnv(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			t.Skipf("live AWS test: %s is not set", n)
		}
		out[n] = v
	}
	return out
}

// TestLiveSSO needs JIT_TEST_AWS_REGION, JIT_TEST_AWS_SSO_INSTANCE_ARN,
// JIT_TEST_AWS_SSO_IDENTITY_STORE_ID, JIT_TEST_AWS_SSO_ACCOUNT_ID,
// JIT_TEST_AWS_SSO_PERMISSION_SET_ARN and JIT_TEST_AWS_SSO_USER (the
// userName of an existing Identity Center user).
func TestLiveSSO(t *testing.T) {
	env := liveEnv(t, "JIT_TEST_AWS_REGION", "JIT_TEST_AWS_SSO_INSTANCE_ARN", "JIT_TEST_AWS_SSO_IDENTITY_STORE_ID",
		"JIT_TEST_AWS_SSO_ACCOUNT_ID", "JIT_TEST_AWS_SSO_PERMISSION_SET_ARN", "JIT_TEST_AWS_SSO_USER")
	settings := map[string]any{
		"region":            env["JIT_TEST_AWS_REGION"],
		"instance_arn":      env["JIT_TEST_AWS_SSO_INSTANCE_ARN"],
		"identity_store_id": env["JIT_TEST_AWS_SSO_IDENTITY_STORE_ID"],
		"account_id":        env["JIT_TEST_AWS_SSO_ACCOUNT_ID"],
		"permission_sets":   map[string]any{"read": env["JIT_TEST_AWS_SSO_PERMISSION_SET_ARN"]},
	}
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			p, err := NewSSOWithOptions(provider.Resource{Name: "aws-live", Type: TypeSSO, Settings: settings, Access: []string{"read"}}, Options{PollInterval: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		Resource: "aws-live", Access: "read", User: env["JIT_TEST_AWS_SSO_USER"],
	})
}

// TestLiveIAM needs JIT_TEST_AWS_IAM_ROLE, an IAM role jit's identity
// may put inline policies on.
func TestLiveIAM(t *testing.T) {
	env := liveEnv(t, "JIT_TEST_AWS_IAM_ROLE")
	settings := map[string]any{
		"principal_type": "role",
		"principal_name": env["JIT_TEST_AWS_IAM_ROLE"],
		"policies":       map[string]any{"read": readPolicy},
	}
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			p, err := NewIAMWithOptions(provider.Resource{Name: "aws-live", Type: TypeIAM, Settings: settings, Access: []string{"read"}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		Resource: "aws-live", Access: "read",
	})
}
