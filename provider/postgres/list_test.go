package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/jitaccess/jit/provider"
)

// TestListOffByDefault: without list: true, List answers
// ErrListUnsupported and contacts nothing (the DSN file does not exist).
func TestListOffByDefault(t *testing.T) {
	p, err := New(provider.Resource{Name: "orders", Type: Type, Access: []string{"read"}, Settings: map[string]any{
		"admin_dsn_file": "/nonexistent/admin.dsn", "host": "db", "database": "orders",
		"levels": map[string]any{"read": map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"public"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := provider.As[provider.Lister](p)
	if !ok {
		t.Fatal("the provider does not implement provider.Lister")
	}
	if _, err := l.List(context.Background(), provider.ListRequest{Resource: "orders"}); !errors.Is(err, provider.ErrListUnsupported) {
		t.Errorf("List without list: true: %v; want ErrListUnsupported", err)
	}
}

// TestListOnlyJitRoles: List reports the roles Grant made for this
// resource, with requester, level and VALID UNTIL, and never a role made
// by someone else: not one named like jit's without a marker, nor one with
// a comment that is not jit's, nor a marker of another resource or
// database, nor a marker copied onto a role of another name.
func TestListOnlyJitRoles(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, serverURL(t))
	settings := tg.baseSettings(t)
	settings["list"] = true
	p := tg.newProvider(t, settings)
	ctx := context.Background()

	req := grantReq("req_list_"+randomHex(t, 6), "write")
	grant(t, p, req)

	mine := marker{JIT: markUser, Database: tg.db, Resource: "orders", Access: "read", Kind: kindLevel}
	foreign := []struct{ name, comment string }{
		// Named as jit would name a request's role, without a comment.
		{userName("req_nomark_"+randomHex(t, 4), "bob@example.com"), ""},
		{"jit_" + randomHex(t, 10), "made by hand"},
		{"jit_" + randomHex(t, 10), `{"jit":"user","database":"` + tg.db + `"`},
		{"jit_" + randomHex(t, 10), `{"jit":"","request_id":"req_x"}`},
	}
	other := func(change func(*marker)) {
		m := mine
		m.RequestID, m.User = "req_other_"+randomHex(t, 6), "mallory@example.com"
		change(&m)
		foreign = append(foreign, struct{ name, comment string }{userName(m.RequestID, m.User), m.encode()})
	}
	other(func(m *marker) { m.Resource = "billing" })
	other(func(m *marker) { m.Database = "other_db" })
	other(func(m *marker) { m.JIT = markGroup })
	other(func(m *marker) { m.RequestID = "" })
	// The real grant's marker, copied onto a role of another name.
	copied := mine
	copied.RequestID, copied.User, copied.Access = req.RequestID, req.User, req.Access
	foreign = append(foreign, struct{ name, comment string }{"jit_copy_" + randomHex(t, 6), copied.encode()})
	// A role named like jit's for a request, carrying the marker of a
	// different request.
	stolen := mine
	stolen.RequestID, stolen.User = "req_stolen_"+randomHex(t, 6), "eve@example.com"
	foreign = append(foreign, struct{ name, comment string }{userName("req_else_"+randomHex(t, 6), "eve@example.com"), stolen.encode()})

	su := superuser(t, tg.server)
	for _, f := range foreign {
		if _, err := su.Exec(ctx, "CREATE ROLE "+ident(f.name)+" LOGIN VALID UNTIL '2099-01-01'"); err != nil {
			t.Fatalf("create %s: %v", f.name, err)
		}
		name := f.name
		t.Cleanup(func() { su.Exec(context.Background(), "DROP ROLE IF EXISTS "+ident(name)) })
		if f.comment != "" {
			c, err := quoteLiteral(f.comment)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := su.Exec(ctx, "COMMENT ON ROLE "+ident(f.name)+" IS "+c); err != nil {
				t.Fatalf("comment on %s: %v", f.name, err)
			}
		}
	}

	resp, err := p.List(ctx, provider.ListRequest{Resource: "orders"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(resp.Grants) != 1 {
		t.Fatalf("List = %+v; want exactly the one grant %s", resp.Grants, req.RequestID)
	}
	g := resp.Grants[0]
	if g.RequestID != req.RequestID || g.User != req.User || g.Access != req.Access {
		t.Errorf("List = %+v; want request %s of %s at %s", g, req.RequestID, req.User, req.Access)
	}
	if g.ExpiresAt == nil || !g.ExpiresAt.Equal(req.ExpiresAt) {
		t.Errorf("List expiry = %v; want %v", g.ExpiresAt, req.ExpiresAt)
	}
	// Listing touched none of the foreign roles.
	for _, f := range foreign {
		var n int
		if err := su.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1 AND rolcanlogin", f.name).Scan(&n); err != nil || n != 1 {
			t.Errorf("foreign role %s changed or gone (%v)", f.name, err)
		}
	}

	if _, err := p.List(ctx, provider.ListRequest{Resource: "billing"}); err == nil || !strings.Contains(err.Error(), "billing") {
		t.Errorf("List of another resource: %v; want a refusal", err)
	}
}

// FuzzListedRole: no comment makes listedRole panic, and whatever it
// accepts names the provider's resource and a request whose role name is
// the one listed.
func FuzzListedRole(f *testing.F) {
	p := &Provider{cfg: config{resource: "orders", database: "orders_db"}}
	good := marker{JIT: markUser, Database: "orders_db", Resource: "orders", RequestID: "req_1", User: "a@b.c"}
	f.Add(userName("req_1", "a@b.c"), good.encode())
	f.Add("jit_x", `{"jit":"user"}`)
	f.Add("jit_x", "not json")
	f.Fuzz(func(t *testing.T, name, comment string) {
		until := pgtype.Timestamptz{Time: time.Unix(1, 0), Valid: true}
		g, ok := p.listedRole(name, until, &comment)
		if !ok {
			return
		}
		if g.RequestID == "" || name != userName(g.RequestID, g.User) {
			t.Fatalf("listed %q as %+v", name, g)
		}
	})
}
