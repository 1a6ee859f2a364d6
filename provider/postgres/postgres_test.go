package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

func TestRegistered(t *testing.T) {
	found := false
	for _, name := range provider.Types() {
		found = found || name == Type
	}
	if !found {
		t.Fatalf("provider type %q is not registered (registered: %v)", Type, provider.Types())
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	for _, access := range []string{"read", "admin"} {
		t.Run(access, func(t *testing.T) {
			providertest.Run(t, providertest.Harness{
				New: func(t *testing.T) provider.Provider {
					// With listing on, so that ListMatchesGrants runs.
					settings := tg.baseSettings(t)
					settings["list"] = true
					return tg.newProvider(t, settings)
				},
				Resource: "orders", Access: access, User: "conformance@example.com",
				Present: func(t *testing.T, id string) bool { return len(tg.rolesOf(t, id)) > 0 },
			})
		})
	}
}

// TestGrantIsIdempotent: a second Grant of one request makes no second
// role, and gives the role a new password (the one it returns).
func TestGrantIsIdempotent(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	req := grantReq("req_idem_"+randomHex(t, 6), "read")
	first := grant(t, p, req)
	second := grant(t, p, req)

	roles := tg.rolesOf(t, req.RequestID)
	if len(roles) != 1 {
		t.Fatalf("after two grants the request has the roles %v; want exactly one", roles)
	}
	var h1, h2 handle
	if err := json.Unmarshal(first.Handle, &h1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(second.Handle, &h2); err != nil {
		t.Fatal(err)
	}
	if h1 != h2 || h1.User != roles[0] || h1.Kind != kindLevel {
		t.Errorf("handles %+v and %+v; want both to name %s with kind %s", h1, h2, roles[0], kindLevel)
	}
	if string(first.Credential.Data) == string(second.Credential.Data) {
		t.Error("the second grant returned the same password")
	}
	stored := storedVerifier(t, tg, roles[0])
	if !verifierMatches(t, stored, string(second.Credential.Data)) {
		t.Error("the stored verifier does not match the password of the second grant")
	}
	if verifierMatches(t, stored, string(first.Credential.Data)) {
		t.Error("the stored verifier still matches the password of the first grant")
	}
	if strings.Contains(stored, string(second.Credential.Data)) {
		t.Error("the server stores the password itself")
	}

	// Revoke twice, and revoke a request never granted: all success.
	for i := 0; i < 2; i++ {
		if _, err := p.Revoke(context.Background(), revokeReq(req, second.Handle)); err != nil {
			t.Fatalf("revoke %d: %v", i+1, err)
		}
	}
	if roles := tg.rolesOf(t, req.RequestID); len(roles) != 0 {
		t.Fatalf("after revoke the request still has the roles %v", roles)
	}
	never := grantReq("req_never_"+randomHex(t, 6), "read")
	if _, err := p.Revoke(context.Background(), revokeReq(never, nil)); err != nil {
		t.Fatalf("revoke of a request never granted: %v", err)
	}
}

// storedVerifier reads the role's password verifier (superuser only).
func storedVerifier(t *testing.T, tg *target, role string) string {
	t.Helper()
	var v string
	err := superuser(t, tg.server).QueryRow(context.Background(), "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&v)
	if err != nil {
		t.Fatalf("read the verifier of %s: %v", role, err)
	}
	return v
}

// verifierMatches recomputes stored (SCRAM-SHA-256$iter:salt$stored:server)
// from password with stored's salt and iteration count.
func verifierMatches(t *testing.T, stored, password string) bool {
	t.Helper()
	var iter int
	var salt64, rest string
	head, keys, ok := strings.Cut(strings.TrimPrefix(stored, "SCRAM-SHA-256$"), "$")
	if !ok {
		t.Fatalf("verifier has an unexpected form")
	}
	if _, err := fmt.Sscanf(strings.Replace(head, ":", " ", 1), "%d %s", &iter, &salt64); err != nil {
		t.Fatalf("verifier has an unexpected form: %v", err)
	}
	rest = keys
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		t.Fatal(err)
	}
	got, err := scramVerifier(password, salt, iter)
	if err != nil {
		t.Fatal(err)
	}
	return got == "SCRAM-SHA-256$"+head+"$"+rest
}

func TestPrivilegesOfLevels(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	su := tg.super(t)
	ctx := context.Background()
	has := func(role, table, priv string) bool {
		t.Helper()
		var ok bool
		if err := su.QueryRow(ctx, "SELECT has_table_privilege($1, $2, $3)", role, table, priv).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	member := func(role, of string) bool {
		t.Helper()
		var ok bool
		if err := su.QueryRow(ctx, "SELECT pg_has_role($1, $2, 'MEMBER')", role, of).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	userOf := func(resp provider.GrantResponse) string {
		var h handle
		if err := json.Unmarshal(resp.Handle, &h); err != nil {
			t.Fatal(err)
		}
		return h.User
	}

	read := userOf(grant(t, p, grantReq("req_read_"+randomHex(t, 6), "read")))
	write := userOf(grant(t, p, grantReq("req_write_"+randomHex(t, 6), "write")))
	admin := userOf(grant(t, p, grantReq("req_admin_"+randomHex(t, 6), "admin")))

	for _, c := range []struct {
		role, table, priv string
		want              bool
	}{
		{read, "public.orders", "SELECT", true},
		{read, "reporting.daily", "SELECT", true},
		{read, "public.orders", "UPDATE", false},
		{write, "public.orders", "UPDATE", true},
		{write, "public.orders", "TRUNCATE", false},
		{write, "reporting.daily", "SELECT", false},
		{admin, "public.orders", "SELECT", false},
	} {
		if got := has(c.role, c.table, c.priv); got != c.want {
			t.Errorf("%s has %s on %s = %v, want %v", c.role, c.priv, c.table, got, c.want)
		}
	}
	if !member(admin, tg.member) {
		t.Errorf("the admin level's user %s is not a member of %s", admin, tg.member)
	}
	if member(read, tg.member) {
		t.Errorf("the read level's user %s is a member of %s", read, tg.member)
	}
	// The users hold no table privilege themselves: only membership.
	var direct int
	err := su.QueryRow(ctx, `SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = ANY($1)`,
		[]string{read, write, admin}).Scan(&direct)
	if err != nil {
		t.Fatal(err)
	}
	if direct != 0 {
		t.Errorf("level users hold %d table privileges directly; want 0", direct)
	}

	// A table the admin role creates later reaches the group through the
	// default privileges, without a new sync.
	if _, err := tg.connect(t, tg.admin, tg.adminPass).Exec(ctx, "CREATE TABLE public.later (x int)"); err != nil {
		t.Fatal(err)
	}
	if !has(read, "public.later", "SELECT") || !has(write, "public.later", "INSERT") {
		t.Errorf("a table created after the grant is not covered by the default privileges")
	}

	// A new provider instance with a narrower write level takes the
	// privileges it no longer lists away from the group, and so from
	// users granted before.
	narrow := tg.baseSettings(t)
	narrow["levels"].(map[string]any)["write"] = map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"public"}}
	p2 := tg.newProvider(t, narrow)
	grant(t, p2, grantReq("req_write2_"+randomHex(t, 6), "write"))
	if has(write, "public.orders", "UPDATE") || has(write, "public.later", "INSERT") {
		t.Errorf("after narrowing the write level, %s still may UPDATE or INSERT", write)
	}
	if !has(write, "public.orders", "SELECT") {
		t.Errorf("after narrowing the write level, %s may no longer SELECT", write)
	}
	// The default privileges were narrowed too.
	if _, err := tg.connect(t, tg.admin, tg.adminPass).Exec(ctx, "CREATE TABLE public.later2 (x int)"); err != nil {
		t.Fatal(err)
	}
	if has(write, "public.later2", "INSERT") || !has(write, "public.later2", "SELECT") {
		t.Errorf("the default privileges were not narrowed with the level")
	}
}

// TestGrantRefusals: grants the database cannot or must not make fail
// without creating a role, with errors saying so.
func TestGrantRefusals(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	su := tg.super(t)
	ctx := context.Background()
	// A schema the admin role may not grant on.
	for _, stmt := range []string{
		"CREATE SCHEMA locked",
		"CREATE TABLE locked.secrets (x int)",
		"GRANT USAGE ON SCHEMA locked TO " + ident(tg.admin),
		"GRANT SELECT ON locked.secrets TO " + ident(tg.admin),
	} {
		if _, err := su.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	settings := tg.baseSettings(t)
	levels := settings["levels"].(map[string]any)
	levels["locked"] = map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"locked"}}
	levels["missing"] = map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"no_such_schema"}}
	levels["super"] = map[string]any{"roles": []any{"postgres"}}
	p := tg.newProvider(t, settings, "read", "write", "admin", "locked", "missing", "super")

	for _, c := range []struct {
		access, want string
	}{
		{"locked", "not granted"},
		{"missing", "no_such_schema"},
		{"super", "superuser"},
	} {
		req := grantReq("req_refused_"+randomHex(t, 6), c.access)
		_, err := p.Grant(ctx, req)
		if err == nil {
			t.Errorf("grant of level %s succeeded; want an error", c.access)
			p.Revoke(ctx, revokeReq(req, nil))
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("grant of level %s: %v; want an error mentioning %q", c.access, err, c.want)
		}
		if !provider.IsNotApplied(err) {
			t.Errorf("grant of level %s: %v is not marked NotApplied, though nothing was created", c.access, err)
		}
		if roles := tg.rolesOf(t, req.RequestID); len(roles) != 0 {
			t.Errorf("failed grant of level %s left the roles %v", c.access, roles)
		}
	}

	for _, c := range []struct {
		name string
		req  provider.GrantRequest
		want string
	}{
		{"unknown level", grantReq("req_x_"+randomHex(t, 4), "nope"), "no access level"},
		{"no expiry", func() provider.GrantRequest {
			r := grantReq("req_x_"+randomHex(t, 4), "read")
			r.ExpiresAt = time.Time{}
			return r
		}(), "no expiry"},
		{"no request ID", grantReq("", "read"), "no ID"},
		{"invalid UTF-8", grantReq("req_\xff", "read"), "UTF-8"},
		{"schema not allowed", func() provider.GrantRequest {
			r := grantReq("req_x_"+randomHex(t, 4), "read")
			r.Privileges = []jit.Privilege{{Action: "SELECT", Schema: "reporting", Table: "daily"}}
			return r
		}(), "not allowed"},
		{"unknown action", func() provider.GrantRequest {
			r := grantReq("req_x_"+randomHex(t, 4), "read")
			r.Privileges = []jit.Privilege{{Action: "TRUNCATE", Schema: "public", Table: "orders"}}
			return r
		}(), "action"},
		{"unknown table", func() provider.GrantRequest {
			r := grantReq("req_x_"+randomHex(t, 4), "read")
			r.Privileges = []jit.Privilege{{Action: "SELECT", Schema: "public", Table: "nope"}}
			return r
		}(), "does not exist"},
		{"unknown column", func() provider.GrantRequest {
			r := grantReq("req_x_"+randomHex(t, 4), "read")
			r.Privileges = []jit.Privilege{{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"nope"}}}
			return r
		}(), "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.Grant(ctx, c.req)
			if err == nil {
				p.Revoke(ctx, revokeReq(c.req, nil))
				t.Fatalf("succeeded; want an error mentioning %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !provider.IsNotApplied(err) {
				t.Errorf("error %v (not applied: %v); want a NotApplied error mentioning %q", err, provider.IsNotApplied(err), c.want)
			}
			if c.req.RequestID != "" {
				if roles := tg.rolesOf(t, c.req.RequestID); len(roles) != 0 {
					t.Errorf("the failed grant left the roles %v", roles)
				}
			}
		})
	}
}

// TestForeignRoleIsLeftAlone: a role with the name a request's user would
// get, not made by jit for that request, is never taken over or dropped.
func TestForeignRoleIsLeftAlone(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	req := grantReq("req_foreign_"+randomHex(t, 6), "read")
	name := userName(req.RequestID, req.User)
	su := superuser(t, tg.server)
	ctx := context.Background()
	if _, err := su.Exec(ctx, "CREATE ROLE "+ident(name)+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { su.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name)) })

	if _, err := p.Grant(ctx, req); err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Errorf("Grant over a foreign role: %v; want a refusal", err)
	}
	if _, err := p.Verify(ctx, provider.VerifyRequest{RequestID: req.RequestID, User: req.User}); err == nil {
		t.Errorf("Verify of a foreign role succeeded; want an error")
	}
	if _, err := p.Revoke(ctx, revokeReq(req, nil)); err == nil {
		t.Errorf("Revoke of a foreign role succeeded; want an error")
	}
	var login bool
	if err := su.QueryRow(ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", name).Scan(&login); err != nil {
		t.Fatalf("the foreign role is gone: %v", err)
	}
	if login {
		t.Errorf("the foreign role was given LOGIN")
	}
	// A handle naming anything but a jit role is refused before SQL.
	_, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: req.RequestID, User: req.User, Handle: json.RawMessage(`{"user":"postgres","kind":"level"}`)})
	if err == nil || !strings.Contains(err.Error(), "no jit role") {
		t.Errorf("Revoke with a handle naming postgres: %v; want a refusal", err)
	}
}

// TestVerifyReportsExpiry: Verify reports the role's VALID UNTIL.
func TestVerifyReportsExpiry(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	req := grantReq("req_verify_"+randomHex(t, 6), "read")
	req.ExpiresAt = time.Date(2031, 2, 3, 4, 5, 6, 789000, time.UTC)
	resp := grant(t, p, req)
	v, err := p.Verify(context.Background(), provider.VerifyRequest{RequestID: req.RequestID, User: req.User, Handle: resp.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(req.ExpiresAt) {
		t.Errorf("Verify = %+v (expires %v); want present, expiring at %v", v, v.ExpiresAt, req.ExpiresAt)
	}
}

// TestConcurrentGrants: 50 grants of one level at once, through five
// provider instances (as five replicas would), then 20 query-scoped grants
// on one table at once; none fails, not even with "tuple concurrently
// updated".
func TestConcurrentGrants(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	var providers []*Provider
	for i := 0; i < 5; i++ {
		providers = append(providers, tg.newProvider(t, nil))
	}
	ctx := context.Background()
	run := func(n int, req func(i int) provider.GrantRequest) {
		t.Helper()
		reqs := make([]provider.GrantRequest, n)
		handles := make([]json.RawMessage, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range reqs {
			reqs[i] = req(i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := providers[i%len(providers)].Grant(ctx, reqs[i])
				handles[i], errs[i] = resp.Handle, err
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Errorf("concurrent grants: %v", err)
		}
		roles, err := jitRoles(ctx, superuser(t, tg.server), tg.db)
		if err != nil {
			t.Fatal(err)
		}
		users := 0
		for _, r := range roles {
			if r.m.JIT == markUser {
				users++
			}
		}
		if users != n {
			t.Errorf("%d concurrent grants made %d users", n, users)
		}
		for i := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = providers[(i+1)%len(providers)].Revoke(ctx, revokeReq(reqs[i], handles[i]))
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Errorf("concurrent revokes: %v", err)
		}
	}
	run(50, func(i int) provider.GrantRequest {
		return grantReq(fmt.Sprintf("req_conc_%d_%s", i, randomHex(t, 4)), "write")
	})
	run(20, func(i int) provider.GrantRequest {
		r := grantReq(fmt.Sprintf("req_concq_%d_%s", i, randomHex(t, 4)), "read")
		r.Privileges = []jit.Privilege{
			{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}},
			{Action: "INSERT", Schema: "public", Table: "orders", Columns: []string{"status", "total"}},
		}
		return r
	})
}

// TestNotApplied: failures before anything reached the database are
// marked NotApplied and never show the DSN.
func TestNotApplied(t *testing.T) {
	// Not parallel: it sets environment variables.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	const secret = "s3cret-admin-password"
	cases := []struct {
		name string
		env  string // the variable's value; "" leaves it unset
		want string
	}{
		{"variable unset", "", "not set"},
		{"connection refused", fmt.Sprintf("postgres://admin:%s@127.0.0.1:%d/orders?sslmode=disable&connect_timeout=5", secret, closedPort), "connect"},
		{"other database", fmt.Sprintf("postgres://admin:%s@127.0.0.1:%d/postgres?sslmode=disable", secret, closedPort), `names the database "postgres"`},
		{"not a DSN", "postgres://admin:" + secret + "@[::1/orders", "not a valid connection string"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			envName := fmt.Sprintf("JIT_TEST_PG_PROVIDER_DSN_%d_%s", i, randomHex(t, 4))
			if c.env != "" {
				t.Setenv(envName, c.env)
			}
			p, err := New(provider.Resource{Name: "orders", Type: Type, Access: []string{"read"}, Settings: map[string]any{
				"admin_dsn_env": envName, "host": "db.internal", "database": "orders",
				"levels": map[string]any{"read": map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"public"}}},
			}})
			if err != nil {
				t.Fatalf("New (which must not read the DSN): %v", err)
			}
			defer p.(*Provider).Close()
			req := grantReq("req_na", "read")
			_, err = p.Grant(context.Background(), req)
			if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Grant: %v (not applied: %v); want a NotApplied error mentioning %q", err, provider.IsNotApplied(err), c.want)
			}
			_, rerr := p.Revoke(context.Background(), revokeReq(req, nil))
			if rerr == nil || !provider.IsNotApplied(rerr) {
				t.Errorf("Revoke: %v; want a NotApplied error", rerr)
			}
			for _, e := range []error{err, rerr} {
				if e != nil && strings.Contains(e.Error(), secret) {
					t.Errorf("error shows the DSN's password: %v", e)
				}
			}
		})
	}
}

func TestScope(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	ctx := context.Background()

	resp, err := p.Scope(ctx, provider.ScopeRequest{Resource: "orders", Access: "write", Query: "UPDATE orders SET total = 1 WHERE id = 1"})
	if err != nil {
		t.Fatalf("Scope: %v", err)
	}
	found := false
	for _, pr := range resp.Privileges {
		if pr.Action == "UPDATE" {
			found = pr.Schema == "public" && pr.Table == "orders" && strings.Join(pr.Columns, ",") == "total"
		}
		if pr.Schema != "public" || pr.Table != "orders" {
			t.Errorf("Scope gave %s, on a table the query does not name", pr)
		}
	}
	if !found {
		t.Errorf("Scope = %v; want UPDATE on public.orders (total) among them", resp.Privileges)
	}

	for _, c := range []struct{ query, want string }{
		{"SELECT * FROM reporting.daily", "not allowed"},
		{"SELECT * FROM no_such_table", "does not exist"},
		{"UPDATE orders SET no_such_column = 1", "no column no_such_column"},
		{"DROP TABLE orders", ""},
	} {
		_, err := p.Scope(ctx, provider.ScopeRequest{Resource: "orders", Access: "write", Query: c.query})
		var se *provider.ScopeError
		if !errors.As(err, &se) {
			t.Errorf("Scope(%q) = %v; want a *provider.ScopeError", c.query, err)
			continue
		}
		if !strings.Contains(se.Reason, c.want) {
			t.Errorf("Scope(%q) refused with %q; want it to mention %q", c.query, se.Reason, c.want)
		}
	}

	// A query never widens the level it is asked under.
	for q, want := range map[string]string{
		"UPDATE orders SET total = 1 WHERE id = 1": "does not grant",
		"SELECT * FROM orders":                     "",
	} {
		_, err := p.Scope(ctx, provider.ScopeRequest{Resource: "orders", Access: "read", Query: q})
		var se *provider.ScopeError
		switch {
		case want == "" && err != nil:
			t.Errorf("Scope(%q) under read = %v; want it allowed", q, err)
		case want != "" && (!errors.As(err, &se) || !strings.Contains(se.Reason, want)):
			t.Errorf("Scope(%q) under read = %v; want a refusal mentioning %q", q, err, want)
		}
	}
	if _, err := p.Scope(ctx, provider.ScopeRequest{Resource: "orders", Access: "admin", Query: "SELECT * FROM orders"}); err == nil {
		t.Error("Scope under a roles-only level succeeded; want a refusal")
	}

	settings := tg.baseSettings(t)
	delete(settings, "query")
	off := tg.newProvider(t, settings)
	_, err = off.Scope(ctx, provider.ScopeRequest{Resource: "orders", Access: "write", Query: "SELECT 1 FROM orders"})
	var se *provider.ScopeError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "not enabled") {
		t.Errorf("Scope without a query setting = %v; want a ScopeError saying it is not enabled", err)
	}
	req := grantReq("req_qoff_"+randomHex(t, 4), "read")
	req.Privileges = resp.Privileges
	if _, err := off.Grant(ctx, req); err == nil || !provider.IsNotApplied(err) {
		off.Revoke(ctx, revokeReq(req, nil))
		t.Errorf("query-scoped Grant without a query setting: %v; want a NotApplied error", err)
	}
}

func TestTeardown(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	ctx := context.Background()
	for _, access := range baseAccess {
		if _, err := p.Grant(ctx, grantReq("req_td_"+randomHex(t, 6), access)); err != nil {
			t.Fatal(err)
		}
	}
	q := grantReq("req_tdq_"+randomHex(t, 6), "read")
	q.Privileges = []jit.Privilege{{Action: "SELECT", Schema: "public", Table: "orders"}}
	if _, err := p.Grant(ctx, q); err != nil {
		t.Fatal(err)
	}
	before, err := jitRoles(ctx, superuser(t, tg.server), tg.db)
	if err != nil {
		t.Fatal(err)
	}
	// 4 users, 3 level groups and the query group.
	if len(before) != 8 {
		t.Fatalf("before teardown: %d jit roles, want 8: %v", len(before), before)
	}
	n, err := Teardown(ctx, p)
	if err != nil || n != len(before) {
		t.Fatalf("Teardown = %d, %v; want %d, nil", n, err, len(before))
	}
	after, err := jitRoles(ctx, superuser(t, tg.server), tg.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 0 {
		t.Errorf("after teardown: %v remain", after)
	}
	// The provider still works: its group roles are made again.
	grant(t, p, grantReq("req_td2_"+randomHex(t, 6), "read"))
}

// TestGroupRoleRecreated: a group role dropped by hand after the provider
// synced it is made again by the next grant.
func TestGroupRoleRecreated(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	p := tg.newProvider(t, nil)
	ctx := context.Background()
	grant(t, p, grantReq("req_grp1_"+randomHex(t, 6), "read"))
	group := groupName(tg.db, "orders", "read")
	su := tg.super(t)
	for _, stmt := range []string{"DROP OWNED BY " + ident(group), "DROP ROLE " + ident(group)} {
		if _, err := su.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	resp := grant(t, p, grantReq("req_grp2_"+randomHex(t, 6), "read"))
	var ok bool
	err := su.QueryRow(ctx, "SELECT has_table_privilege($1, 'public.orders', 'SELECT') AND pg_has_role($1, $2, 'MEMBER')",
		resp.Credential.Info["user"], group).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Errorf("after the group role was dropped by hand, a new grant did not restore it")
	}
}

// TestClosed: a closed provider refuses calls without touching anything.
func TestClosed(t *testing.T) {
	p, err := New(provider.Resource{Name: "orders", Type: Type, Access: []string{"read"}, Settings: map[string]any{
		"admin_dsn_env": "JIT_TEST_PG_PROVIDER_NEVER_SET", "host": "db.internal", "database": "orders",
		"levels": map[string]any{"read": map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"public"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.(provider.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	_, err = p.Grant(context.Background(), grantReq("req_closed", "read"))
	if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Grant after Close: %v; want a NotApplied error saying the provider is closed", err)
	}
}
