package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/aws/awstest"
)

// A server that answers a page token it answered before would have a
// client that follows it ask for the same pages for ever. Every listing
// ends instead, with an error: a short listing would pass for a whole
// one. The context only bounds a listing that would loop.
const loopBound = 5 * time.Second

func wantRepeatedToken(t *testing.T, what string, err error, calls, maxCalls int) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "page token") {
		t.Errorf("%s = %v, want an error about a repeated page token", what, err)
	}
	if calls > maxCalls {
		t.Errorf("%s made %d list calls, want at most %d", what, calls, maxCalls)
	}
}

func TestIAMRepeatedPageToken(t *testing.T) {
	t.Run("ListUsers", func(t *testing.T) {
		srv := awstest.NewIAM(t)
		for _, u := range []string{"alice", "bob", "carol"} {
			srv.AddUser(u, "")
		}
		c := newClock()
		p := newIAM(t, iamSettings(srv, "user", "{local}"), c)
		if _, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_a", User: "alice@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		srv.RepeatMarkers()
		ctx, cancel := context.WithTimeout(context.Background(), loopBound)
		defer cancel()
		_, err := p.List(ctx, provider.ListRequest{})
		wantRepeatedToken(t, "List", err, srv.Calls("ListUsers"), 3)
		c.Add(2 * time.Hour)
		n, err := p.Sweep(ctx)
		wantRepeatedToken(t, "Sweep", err, srv.Calls("ListUsers"), 6)
		if n != 0 {
			t.Errorf("Sweep deleted %d policies from an incomplete listing", n)
		}
	})
	t.Run("ListRolePolicies", func(t *testing.T) {
		srv := awstest.NewIAM(t)
		srv.AddRole("ops", "")
		c := newClock()
		p := newIAM(t, iamSettings(srv, "role", "ops"), c)
		for _, id := range []string{"req_1", "req_2", "req_3"} {
			if _, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: id, User: "a@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		srv.RepeatMarkers()
		ctx, cancel := context.WithTimeout(context.Background(), loopBound)
		defer cancel()
		_, err := p.List(ctx, provider.ListRequest{})
		wantRepeatedToken(t, "List", err, srv.Calls("ListRolePolicies"), 3)
	})
}

func TestSSORepeatedPageToken(t *testing.T) {
	setup := func(t *testing.T) (*awstest.IdentityCenter, *SSO) {
		srv := awstest.NewIdentityCenter(t)
		srv.AddUser("alice@example.com", "alice@example.com")
		// Three groups holding the read permission set: two pages.
		for _, name := range []string{"team-a", "team-b", "team-c"} {
			gid := srv.AddGroup(name, "")
			srv.Assign(awstest.Assignment{AccountID: account, PermissionSetARN: srv.PermissionSetARN(1), PrincipalType: "GROUP", PrincipalID: gid})
		}
		return srv, newSSO(t, ssoSettings(srv), nil)
	}
	t.Run("ListAccountAssignments", func(t *testing.T) {
		srv, p := setup(t)
		srv.RepeatNextTokens()
		ctx, cancel := context.WithTimeout(context.Background(), loopBound)
		defer cancel()
		_, err := p.List(ctx, provider.ListRequest{})
		wantRepeatedToken(t, "List", err, srv.Calls("ListAccountAssignments"), 3)
	})
	t.Run("user mode Check", func(t *testing.T) {
		srv, _ := setup(t)
		settings := ssoSettings(srv)
		settings["principal"] = "user"
		p := newSSO(t, settings, nil)
		srv.RepeatNextTokens()
		ctx, cancel := context.WithTimeout(context.Background(), loopBound)
		defer cancel()
		_, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read"})
		wantRepeatedToken(t, "Check", err, srv.Calls("ListAccountAssignments"), 3)
	})
	t.Run("ListAccountAssignmentsForPrincipal", func(t *testing.T) {
		srv, p := setup(t)
		// The request's group holds the permission set on three
		// accounts: two pages.
		gid := srv.AddGroup(GroupName("req_x"), Marker{RequestID: "req_x", User: "alice@example.com", Access: "read"}.String())
		for _, acct := range []string{account, "222233334444", "333344445555"} {
			srv.Assign(awstest.Assignment{AccountID: acct, PermissionSetARN: srv.PermissionSetARN(1), PrincipalType: "GROUP", PrincipalID: gid})
		}
		srv.RepeatNextTokens()
		ctx, cancel := context.WithTimeout(context.Background(), loopBound)
		defer cancel()
		_, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_x", User: "alice@example.com", Access: "read"})
		wantRepeatedToken(t, "Revoke", err, srv.Calls("ListAccountAssignmentsForPrincipal"), 3)
		if _, _, ok := srv.Group(GroupName("req_x")); !ok {
			t.Errorf("the group was deleted although its assignments could not all be listed")
		}
	})
}
