package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit/provider"
)

// TestLogin logs in with the issued credentials through the real psql
// client, on a server that checks passwords (see passwordServer).
func TestLogin(t *testing.T) {
	t.Parallel()
	server := passwordServer(t)

	t.Run("Levels", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t, server)
		p := tg.newProvider(t, nil)
		read := grant(t, p, grantReq("req_login_read_"+randomHex(t, 6), "read"))
		if got := mustPsql(t, read.Credential, "SELECT count(*) FROM orders"); got != "2" {
			t.Errorf("read user counted %q orders, want 2", got)
		}
		mustPsql(t, read.Credential, "SELECT * FROM reporting.daily")
		psqlFails(t, read.Credential, "UPDATE orders SET total = 2", "permission denied")

		// The server checks the password: a wrong one is refused.
		wrong := *read.Credential
		wrong.Data = []byte("not-the-password")
		psqlFails(t, &wrong, "SELECT 1", "password authentication failed")

		write := grant(t, p, grantReq("req_login_write_"+randomHex(t, 6), "write"))
		mustPsql(t, write.Credential, "UPDATE orders SET total = total + 1")
		mustPsql(t, write.Credential, "INSERT INTO orders (total, status) VALUES (3, 'new')")
		psqlFails(t, write.Credential, "SELECT * FROM reporting.daily", "permission denied")
	})

	t.Run("QueryScoped", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t, server)
		p := tg.newProvider(t, nil)
		ctx := context.Background()
		scoped := func(query string) *provider.Credential {
			t.Helper()
			s, err := p.Scope(ctx, provider.ScopeRequest{Resource: "orders", Access: "write", Query: query})
			if err != nil {
				t.Fatalf("Scope(%q): %v", query, err)
			}
			req := grantReq("req_login_q_"+randomHex(t, 6), "write")
			req.Query, req.Privileges = query, s.Privileges
			return grant(t, p, req).Credential
		}

		update := scoped("UPDATE orders SET total = 1 WHERE id = 1")
		mustPsql(t, update, "UPDATE orders SET total = 1 WHERE id = 1")
		psqlFails(t, update, "UPDATE orders SET status = 'x' WHERE id = 1", "permission denied")
		psqlFails(t, update, "SELECT * FROM reporting.daily", "permission denied")
		psqlFails(t, update, "DELETE FROM orders", "permission denied")

		insert := scoped("INSERT INTO orders (total, status) VALUES (5, 'new')")
		mustPsql(t, insert, "INSERT INTO orders (total, status) VALUES (5, 'new')")
		psqlFails(t, insert, "SELECT total FROM orders", "permission denied")

		// The serial id was drawn from the sequence by the insert.
		var n int
		if err := tg.super(t).QueryRow(ctx, "SELECT count(*) FROM orders WHERE total = 5 AND id > 2").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("found %d inserted rows with a fresh serial id, want 1", n)
		}
	})

	t.Run("RevokeEndsSessions", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t, server)
		p := tg.newProvider(t, nil)
		ctx := context.Background()
		req := grantReq("req_login_rev_"+randomHex(t, 6), "read")
		resp := grant(t, p, req)
		cred := resp.Credential
		conn := tg.connect(t, cred.Info["user"], string(cred.Data))
		if _, err := conn.Exec(ctx, "SELECT count(*) FROM orders"); err != nil {
			t.Fatalf("the open session cannot read: %v", err)
		}
		if _, err := p.Revoke(ctx, revokeReq(req, resp.Handle)); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		// The session that was open is gone, at once.
		if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
			t.Errorf("the session opened before revoke still runs queries")
		}
		psqlFails(t, cred, "SELECT 1", "password authentication failed")
		if roles := tg.rolesOf(t, req.RequestID); len(roles) != 0 {
			t.Errorf("after revoke the roles %v remain", roles)
		}
	})

	t.Run("ValidUntil", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t, server)
		p := tg.newProvider(t, nil)
		ctx := context.Background()
		req := grantReq("req_login_exp_"+randomHex(t, 6), "read")
		req.ExpiresAt = time.Now().Add(2 * time.Second).UTC().Truncate(time.Microsecond)
		resp := grant(t, p, req)
		cred := resp.Credential
		// Before the expiry the credential works (a login takes
		// milliseconds; two seconds are a wide margin).
		before, err := pgx.Connect(ctx, tg.dsn(t, cred.Info["user"], string(cred.Data)))
		if err != nil {
			t.Fatalf("login before the expiry: %v", err)
		}
		before.Close(ctx)

		time.Sleep(time.Until(req.ExpiresAt) + 500*time.Millisecond)
		psqlFails(t, cred, "SELECT 1", "password authentication failed")
		// Nothing revoked it: the role is still there, and PostgreSQL
		// refused the login by itself.
		v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: req.RequestID, User: req.User, Handle: resp.Handle})
		if err != nil {
			t.Fatal(err)
		}
		if !v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(req.ExpiresAt) {
			t.Errorf("Verify after expiry = %+v; want present with the grant's expiry %v", v, req.ExpiresAt)
		}
	})
}

// TestCredentialInfo: the credential says how to connect, and carries the
// password only in Data.
func TestCredentialInfo(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	resp := grant(t, p, grantReq("req_info_"+randomHex(t, 6), "read"))
	c := resp.Credential
	if c.Kind != "password" || len(c.Data) != 43 {
		t.Errorf("credential kind %q with %d bytes of data; want a password of 43 characters", c.Kind, len(c.Data))
	}
	want := map[string]string{"dialect": "postgres", "host": tg.host, "database": tg.db, "sslmode": "disable"}
	for k, v := range want {
		if c.Info[k] != v {
			t.Errorf("Info[%s] = %q, want %q", k, c.Info[k], v)
		}
	}
	if !userNamePattern.MatchString(c.Info["user"]) {
		t.Errorf("Info[user] = %q is not a jit user name", c.Info["user"])
	}
	for k, v := range c.Info {
		if strings.Contains(v, string(c.Data)) {
			t.Errorf("Info[%s] holds the password", k)
		}
	}
	if strings.Contains(string(resp.Handle), string(c.Data)) {
		t.Errorf("the handle holds the password")
	}
}
