package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// Hostile inputs: quotes, semicolons, comments, backslashes, dollar
// quotes, control characters and unicode.
var (
	hostileIDs = []string{
		`req'; DROP ROLE postgres; --`,
		`req"; ALTER ROLE postgres NOSUPERUSER; --`,
		`req\'; CREATE ROLE evil SUPERUSER; --`,
		`req/* comment */x`,
		"req$$; DROP DATABASE postgres; $$",
		"req\nGRANT pg_read_server_files TO PUBLIC",
		`req_ünïcødé_🎉_Ω`,
		strings.Repeat("very-long-request-id-", 30),
	}
	hostileEmails = []string{
		`o'brien"; DROP TABLE orders; --@example.com`,
		`ÆØÅ.ünï@example.com`,
		`@example.com`,
		`"quoted@local"@example.com`,
		`back\slash'+tag@example.com`,
		`no-at-sign`,
		strings.Repeat("LongLocal", 20) + "@example.com",
		`UPPER.Case-Name@EXAMPLE.com`,
	}
	hostileLevels = []string{
		`read"; DROP ROLE postgres; --`,
		`lecture 'ünï' \ level`,
		`-- comment`,
	}
	hostileSchema = `we"ird'; schema -- ü`
)

// TestHostileNames grants and revokes with hostile request IDs, emails,
// resource, level and schema names on a private server, and checks that
// the names come out valid and that the statements did exactly what they
// should: the server's roles (and their attributes) and databases after
// are those before plus the expected roles, and nothing else changed.
func TestHostileNames(t *testing.T) {
	t.Parallel()
	server := passwordServer(t)
	tg := newTarget(t, server)
	ctx := context.Background()
	admin := tg.connect(t, tg.admin, tg.adminPass)
	for _, stmt := range []string{
		"CREATE SCHEMA " + ident(hostileSchema),
		"CREATE TABLE " + qualified(hostileSchema, `t"a'b; --`) + " (x int)",
		"INSERT INTO " + qualified(hostileSchema, `t"a'b; --`) + " VALUES (7)",
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	settings := tg.baseSettings(t)
	levels := map[string]any{}
	for _, l := range hostileLevels {
		levels[l] = map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{hostileSchema, "public"}}
	}
	settings["levels"] = levels
	settings["query"] = map[string]any{"schemas": []any{hostileSchema}}
	resource := `orders'; DROP DATABASE postgres; --`
	prov, err := New(provider.Resource{Name: resource, Type: Type, Settings: settings, Access: hostileLevels})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p := prov.(*Provider)
	t.Cleanup(func() { p.Close() })

	su := superuser(t, server)
	before := serverState(t, su)

	type granted struct {
		req  provider.GrantRequest
		resp provider.GrantResponse
	}
	var grants []granted
	wantRoles := map[string]bool{}
	for i, id := range hostileIDs {
		req := grantReq(id, hostileLevels[i%len(hostileLevels)])
		req.Resource = resource
		req.User = hostileEmails[i%len(hostileEmails)]
		if i%4 == 3 {
			req.Privileges = []jit.Privilege{{Action: "SELECT", Schema: hostileSchema, Table: `t"a'b; --`, Columns: []string{"x"}}}
		}
		resp, err := p.Grant(ctx, req)
		if err != nil {
			t.Fatalf("Grant(%q, %q): %v", id, req.User, err)
		}
		grants = append(grants, granted{req, resp})
		user := resp.Credential.Info["user"]
		if !userNamePattern.MatchString(user) || len(user) > maxIdentifier {
			t.Errorf("user name %q for %q is not of the form jit_[a-z0-9_]+ within 63 bytes", user, id)
		}
		if user != userName(id, req.User) {
			t.Errorf("user name %q differs from the one derived for revoke, %q", user, userName(id, req.User))
		}
		wantRoles[user] = true
		if req.Privileges == nil {
			wantRoles[groupName(tg.db, resource, req.Access)] = true
		} else {
			wantRoles[queryGroupName(tg.db, resource)] = true
		}
		// The password works, and the grant reads the hostile table.
		if got := mustPsql(t, resp.Credential, "SELECT x FROM "+qualified(hostileSchema, `t"a'b; --`)); got != "7" {
			t.Errorf("user of %q read %q, want 7", id, got)
		}
	}

	after := serverState(t, su)
	assertStateDiff(t, before, after, wantRoles)

	// Each marker holds the request ID and email exactly: the literals
	// round-tripped.
	roles, err := jitRoles(ctx, su, tg.db)
	if err != nil {
		t.Fatal(err)
	}
	markers := map[string]marker{}
	for _, r := range roles {
		markers[r.name] = r.m
	}
	for _, g := range grants {
		m := markers[g.resp.Credential.Info["user"]]
		if m.RequestID != g.req.RequestID || m.User != g.req.User || m.Resource != resource {
			t.Errorf("marker of %s = %+v; want request %q, user %q, resource %q", g.resp.Credential.Info["user"], m, g.req.RequestID, g.req.User, resource)
		}
	}

	// Revoke, half of them without their handle.
	for i, g := range grants {
		h := g.resp.Handle
		if i%2 == 1 {
			h = nil
		}
		if _, err := p.Revoke(ctx, revokeReq(g.req, h)); err != nil {
			t.Fatalf("Revoke(%q): %v", g.req.RequestID, err)
		}
	}
	groupsOnly := map[string]bool{}
	for name := range wantRoles {
		if !strings.HasPrefix(name, groupPrefix) && !strings.HasPrefix(name, queryPrefix) {
			continue
		}
		groupsOnly[name] = true
	}
	assertStateDiff(t, before, serverState(t, su), groupsOnly)
}

// state is what a hostile statement could have changed on the server.
type state struct {
	roles     map[string]string // name -> attributes
	databases map[string]bool
}

func serverState(t *testing.T, conn *pgx.Conn) state {
	t.Helper()
	ctx := context.Background()
	s := state{roles: map[string]string{}, databases: map[string]bool{}}
	rows, err := conn.Query(ctx, `
		SELECT rolname, format('%s %s %s %s %s %s %s', rolsuper, rolinherit, rolcreaterole, rolcreatedb,
		       rolcanlogin, rolreplication, rolbypassrls)
		FROM pg_roles`)
	if err != nil {
		t.Fatal(err)
	}
	var name, attrs string
	if _, err := pgx.ForEachRow(rows, []any{&name, &attrs}, func() error { s.roles[name] = attrs; return nil }); err != nil {
		t.Fatal(err)
	}
	dbs, err := conn.Query(ctx, "SELECT datname FROM pg_database")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.ForEachRow(dbs, []any{&name}, func() error { s.databases[name] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return s
}

// assertStateDiff checks that after is before plus exactly the roles in
// added, with every role of before unchanged.
func assertStateDiff(t *testing.T, before, after state, added map[string]bool) {
	t.Helper()
	for name, attrs := range before.roles {
		if got, ok := after.roles[name]; !ok {
			t.Errorf("role %s disappeared", name)
		} else if got != attrs {
			t.Errorf("role %s changed from %q to %q", name, attrs, got)
		}
	}
	var extra []string
	for name := range after.roles {
		if _, ok := before.roles[name]; !ok && !added[name] {
			extra = append(extra, name)
		}
	}
	for name := range added {
		if _, ok := after.roles[name]; !ok {
			t.Errorf("expected role %s does not exist", name)
		}
	}
	if len(extra) > 0 {
		t.Errorf("unexpected roles appeared: %v", extra)
	}
	if fmt.Sprint(before.databases) != fmt.Sprint(after.databases) {
		t.Errorf("the databases changed from %v to %v", before.databases, after.databases)
	}
}

// TestHandleIsJSON: the handle holds the user and kind, nothing secret.
func TestHandleIsJSON(t *testing.T) {
	raw, _ := json.Marshal(handle{User: "jit_a_0123", Kind: kindQuery})
	name, err := targetRole(raw, "req_1", "a@example.com")
	if err != nil || name != "jit_a_0123" {
		t.Errorf("targetRole(handle) = %q, %v", name, err)
	}
	name, err = targetRole(nil, "req_1", "a@example.com")
	if err != nil || name != userName("req_1", "a@example.com") {
		t.Errorf("targetRole(nil) = %q, %v; want the derived name", name, err)
	}
	for _, bad := range []string{`{"user":"postgres"}`, `{"user":"jit_x\"; DROP"}`, `{"user":"JIT_X"}`, `[1]`} {
		if _, err := targetRole(json.RawMessage(bad), "req_1", "a@example.com"); err == nil {
			t.Errorf("targetRole(%s) accepted it", bad)
		}
	}
}
