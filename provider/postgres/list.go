package postgres

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/jitaccess/jit/provider"
)

var _ provider.Lister = (*Provider)(nil)

// listQuery reads every role that carries a comment and whose name starts
// with "jit_" (the backslash escapes LIKE's "_" wildcard). Which of them
// jit created for this resource is decided by listedRole, from the marker.
const listQuery = `
	SELECT r.rolname, r.rolvaliduntil, d.description
	FROM pg_catalog.pg_roles r
	JOIN pg_catalog.pg_shdescription d
	  ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
	WHERE r.rolname LIKE 'jit\_%'
	ORDER BY r.rolname`

// List implements provider.Lister: every user role jit created for this
// resource in this database, as its request ID, requester, access level
// and VALID UNTIL. Roles are global to a PostgreSQL cluster, so a role
// counts only when its comment parses as jit's user marker naming this
// database and resource, and its name is the one Grant derives from the
// marker's request ID and requester (the name Revoke drops); roles that
// people or other tools made, whatever their names, are never listed.
// Roles past their VALID UNTIL are still listed: they exist until revoked.
//
// Errors: provider.ErrListUnsupported (wrapped) when the setting list is
// not true; any other error (no connection, a failed query, a cancelled
// context) means the listing is incomplete. It changes nothing and may run
// concurrently with Grant and Revoke.
func (p *Provider) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	what := fmt.Sprintf("postgres list %q", p.cfg.resource)
	if !p.cfg.list {
		return provider.ListResponse{}, fmt.Errorf("%s: %w (set list: true when no other jit installation serves database %s under this resource name)", what, provider.ErrListUnsupported, p.cfg.database)
	}
	if req.Resource != "" && req.Resource != p.cfg.resource {
		return provider.ListResponse{}, fmt.Errorf("%s: asked to list resource %q", what, req.Resource)
	}
	if err := ctx.Err(); err != nil {
		return provider.ListResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	pool, err := p.db()
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	rows, err := pool.Query(ctx, listQuery)
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("%s: read the roles: %w", what, err)
	}
	var name string
	var validUntil pgtype.Timestamptz
	var comment *string
	grants := []provider.ListedGrant{}
	_, err = pgx.ForEachRow(rows, []any{&name, &validUntil, &comment}, func() error {
		if g, ok := p.listedRole(name, validUntil, comment); ok {
			grants = append(grants, g)
		}
		return nil
	})
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("%s: read the roles: %w", what, err)
	}
	sort.Slice(grants, func(i, j int) bool { return grants[i].RequestID < grants[j].RequestID })
	return provider.ListResponse{Grants: grants}, nil
}

// listedRole decides whether the role name, with its VALID UNTIL and
// comment, is a grant of this resource, and returns it.
func (p *Provider) listedRole(name string, validUntil pgtype.Timestamptz, comment *string) (provider.ListedGrant, bool) {
	m, ok := parseMarker(comment)
	if !ok || m.JIT != markUser || m.Database != p.cfg.database || m.Resource != p.cfg.resource {
		return provider.ListedGrant{}, false
	}
	// A marker copied onto another role, or one whose request cannot be
	// revoked by its ID, is not jit's grant.
	if checkRequest(m.RequestID, m.User) != nil || name != userName(m.RequestID, m.User) {
		return provider.ListedGrant{}, false
	}
	g := provider.ListedGrant{RequestID: m.RequestID, User: m.User, Access: m.Access}
	if validUntil.Valid && validUntil.InfinityModifier == pgtype.Finite {
		t := validUntil.Time.UTC()
		g.ExpiresAt = &t
	}
	return g, true
}
