package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit/provider"
)

// Teardown drops every role that p (a provider of this package, possibly
// wrapped) created for its resource in its database: the users of all
// grants, revoked as Revoke revokes them (login disabled, sessions ended,
// objects reassigned to the admin role), then the group roles of its
// levels and of query-scoped requests, with their privileges. Roles are
// found by the marker jit puts on each one, so roles of other resources,
// databases or tools are left alone. It returns how many roles it dropped.
//
// It is for programs that make many grants against a scratch database,
// such as benchmarks; jitd never calls it, since ending access is the
// workflow's job and group roles are shared by all grants of a level.
// Calling it while grants are being made leaves those grants to fail or
// to be dropped.
func Teardown(ctx context.Context, p provider.Provider) (int, error) {
	pp, ok := provider.As[*Provider](p)
	if !ok {
		return 0, fmt.Errorf("postgres teardown: %T is not a postgres provider", p)
	}
	pool, err := pp.db()
	if err != nil {
		return 0, fmt.Errorf("postgres teardown: %w", err)
	}
	rows, err := pool.Query(ctx, `
		SELECT r.rolname, d.description
		FROM pg_catalog.pg_roles r
		JOIN pg_catalog.pg_shdescription d
		  ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
		WHERE pg_catalog.starts_with(r.rolname, 'jit_')`)
	if err != nil {
		return 0, fmt.Errorf("postgres teardown: list roles: %w", err)
	}
	type found struct {
		name string
		m    marker
	}
	var users, groups []found
	var name string
	var comment *string
	_, err = pgx.ForEachRow(rows, []any{&name, &comment}, func() error {
		m, ok := parseMarker(comment)
		if !ok || m.Database != pp.cfg.database || m.Resource != pp.cfg.resource {
			return nil
		}
		switch m.JIT {
		case markUser:
			users = append(users, found{name, m})
		case markGroup:
			groups = append(groups, found{name, m})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres teardown: list roles: %w", err)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].name < users[j].name })
	sort.Slice(groups, func(i, j int) bool { return groups[i].name < groups[j].name })
	dropped := 0
	var errs []error
	for _, u := range users {
		if err := pp.revokeRole(ctx, pool, u.name, u.m.RequestID); err != nil {
			errs = append(errs, err)
			continue
		}
		dropped++
	}
	for _, g := range groups {
		_, err := pp.inTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			if err := advisoryLock(ctx, tx, groupLock(g.name)); err != nil {
				return err
			}
			// DROP OWNED rewrites the ACLs of the group's tables.
			if err := advisoryLock(ctx, tx, aclLockKey); err != nil {
				return err
			}
			r, err := roleInfo(ctx, tx, g.name)
			if err != nil || !r.exists {
				return err
			}
			if !r.marked || r.marker != g.m {
				return errors.New("its marker changed; it is left alone")
			}
			return dropRole(ctx, tx, g.name, r)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("group role %s: %w", g.name, err))
			continue
		}
		pp.forgetGroup(g.name)
		dropped++
	}
	if err := errors.Join(errs...); err != nil {
		return dropped, fmt.Errorf("postgres teardown: %w", err)
	}
	return dropped, nil
}
