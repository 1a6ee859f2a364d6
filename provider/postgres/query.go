package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/sqlscope"
)

// queryActions are the actions a query-scoped privilege may have.
var queryActions = []string{"SELECT", "INSERT", "UPDATE", "DELETE"}

// tablePlan is what a query-scoped request grants on one table.
type tablePlan struct {
	schema, table string
	// actions maps each action to its columns, sorted; an empty list means
	// the whole table.
	actions map[string][]string
	oid     uint32 // filled in from the catalogue
}

// planPrivileges validates privileges against the allowlist (again at
// grant time: the settings may have narrowed since the request was
// scoped) and merges them per table and action. An action granted both
// for some columns and for the whole table is granted for the whole
// table.
func planPrivileges(privs []jit.Privilege, allowed []string) ([]tablePlan, error) {
	byTable := map[[2]string]*tablePlan{}
	whole := map[[2]string]map[string]bool{}
	for _, pr := range privs {
		action := strings.ToUpper(pr.Action)
		if !slices.Contains(queryActions, action) {
			return nil, fmt.Errorf("privilege %s: action must be one of %s", pr, strings.Join(queryActions, ", "))
		}
		for _, n := range append([]string{pr.Schema, pr.Table}, pr.Columns...) {
			if err := checkIdentifier(n); err != nil {
				return nil, fmt.Errorf("privilege %s: name %q %v", pr, n, err)
			}
		}
		if !slices.Contains(allowed, pr.Schema) {
			return nil, fmt.Errorf("privilege %s: schema %s is not allowed for query-scoped requests (allowed: %s)", pr, pr.Schema, strings.Join(allowed, ", "))
		}
		if action == "DELETE" && len(pr.Columns) > 0 {
			return nil, fmt.Errorf("privilege %s: DELETE cannot be limited to columns", pr)
		}
		key := [2]string{pr.Schema, pr.Table}
		t, ok := byTable[key]
		if !ok {
			t = &tablePlan{schema: pr.Schema, table: pr.Table, actions: map[string][]string{}}
			byTable[key] = t
			whole[key] = map[string]bool{}
		}
		if len(pr.Columns) == 0 {
			whole[key][action] = true
		}
		t.actions[action] = append(t.actions[action], pr.Columns...)
	}
	out := make([]tablePlan, 0, len(byTable))
	for key, t := range byTable {
		for action, cols := range t.actions {
			if whole[key][action] {
				t.actions[action] = nil
				continue
			}
			sort.Strings(cols)
			t.actions[action] = slices.Compact(cols)
		}
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].schema != out[j].schema {
			return out[i].schema < out[j].schema
		}
		return out[i].table < out[j].table
	})
	return out, nil
}

// grantQuery creates (or refreshes) u as a member of the query group
// (USAGE on the allowed schemas) holding exactly the privileges of plan,
// plus USAGE on the sequences that fill in defaults of the tables it may
// insert into.
//
// Each privilege is a GRANT on the table itself, so the user appears in
// the table's ACL. That ACL is stored in the table's pg_class row, which
// cannot grow beyond a page: measured on PostgreSQL 15, GRANTs to more
// than about 2,440 distinct roles on one table fail with "row is too big".
// That is the limit of live query-scoped grants per table (level grants,
// through group roles, have no such limit). Concurrent GRANTs on one table
// are serialised by an advisory lock per table, taken in OID order.
func (p *Provider) grantQuery(ctx context.Context, tx pgx.Tx, u grantUser, group string, plan []tablePlan) error {
	if err := advisoryLock(ctx, tx, userLock(u.name)); err != nil {
		return err
	}
	if err := sharedLock(ctx, tx, aclLockKey); err != nil {
		return err
	}
	var rels, inserted []uint32
	for i := range plan {
		t := &plan[i]
		kind, err := relKind(ctx, tx, t.schema, t.table)
		if err != nil {
			return err
		}
		if !strings.Contains(tableKinds, "'"+kind.kind+"'") {
			return fmt.Errorf("%s does not exist or is not a table", qualified(t.schema, t.table))
		}
		t.oid = kind.oid
		rels = append(rels, t.oid)
		if _, ok := t.actions["INSERT"]; ok {
			inserted = append(inserted, t.oid)
		}
	}
	seqs, err := sequencesOf(ctx, tx, inserted)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		rels = append(rels, s.oid)
	}
	if err := lockRelations(ctx, tx, rels); err != nil {
		return err
	}
	g, err := roleInfo(ctx, tx, group)
	if err != nil {
		return err
	}
	if !g.exists {
		return errGroupMissing
	}
	if err := p.upsertUser(ctx, tx, u, group); err != nil {
		return err
	}
	name := ident(u.name)
	for _, t := range plan {
		for _, action := range sortedKeys(t.actions) {
			cols := t.actions[action]
			stmt := "GRANT " + action
			if len(cols) > 0 {
				quoted := make([]string, len(cols))
				for i, c := range cols {
					quoted[i] = ident(c)
				}
				stmt += " (" + strings.Join(quoted, ", ") + ")"
			}
			stmt += " ON TABLE " + qualified(t.schema, t.table) + " TO " + name
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("grant %s on %s: %w", action, qualified(t.schema, t.table), err)
			}
		}
	}
	for _, s := range seqs {
		if _, err := tx.Exec(ctx, "GRANT USAGE ON SEQUENCE "+qualified(s.schema, s.name)+" TO "+name); err != nil {
			return fmt.Errorf("grant usage on sequence %s: %w", qualified(s.schema, s.name), err)
		}
	}
	return checkQueryGrants(ctx, tx, u.name, plan, seqs)
}

// checkQueryGrants verifies that the user holds every granted privilege:
// a GRANT by a role that may not grant a privilege only warns.
func checkQueryGrants(ctx context.Context, tx pgx.Tx, user string, plan []tablePlan, seqs []relation) error {
	const hint = " was not granted (the admin role must own the table or hold the privilege WITH GRANT OPTION)"
	for _, t := range plan {
		for _, action := range sortedKeys(t.actions) {
			cols := t.actions[action]
			if len(cols) == 0 {
				var ok bool
				err := tx.QueryRow(ctx, `SELECT pg_catalog.has_table_privilege($1::text, $2::oid, $3::text)`, user, t.oid, action).Scan(&ok)
				if err != nil {
					return fmt.Errorf("check %s on %s: %w", action, qualified(t.schema, t.table), err)
				}
				if !ok {
					return fmt.Errorf("%s on %s%s", action, qualified(t.schema, t.table), hint)
				}
				continue
			}
			for _, c := range cols {
				var ok bool
				err := tx.QueryRow(ctx, `SELECT pg_catalog.has_column_privilege($1::text, $2::oid, $3::text, $4::text)`, user, t.oid, c, action).Scan(&ok)
				if err != nil {
					return fmt.Errorf("check %s (%s) on %s: %w", action, c, qualified(t.schema, t.table), err)
				}
				if !ok {
					return fmt.Errorf("%s (%s) on %s%s", action, c, qualified(t.schema, t.table), hint)
				}
			}
		}
	}
	for _, s := range seqs {
		var ok bool
		err := tx.QueryRow(ctx, `SELECT pg_catalog.has_sequence_privilege($1::text, $2::oid, 'USAGE')`, user, s.oid).Scan(&ok)
		if err != nil {
			return fmt.Errorf("check usage on sequence %s: %w", qualified(s.schema, s.name), err)
		}
		if !ok {
			return fmt.Errorf("USAGE on sequence %s%s", qualified(s.schema, s.name), hint)
		}
	}
	return nil
}

type relKindInfo struct {
	oid  uint32
	kind string // "" when there is no such relation
}

// relKind looks a relation up by schema and name.
func relKind(ctx context.Context, q querier, schema, name string) (relKindInfo, error) {
	var r relKindInfo
	err := q.QueryRow(ctx, `
		SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schema, name).Scan(&r.oid, &r.kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return relKindInfo{}, nil
	}
	if err != nil {
		return relKindInfo{}, fmt.Errorf("look up %s: %w", qualified(schema, name), err)
	}
	return r, nil
}

// Scope derives the privileges a query needs with the PostgreSQL grammar
// (sqlscope.Postgres, unqualified names in schema public) and checks them
// against the database's catalogue in a read-only transaction: every table
// must exist and be in a schema of the query setting, and every named
// column must exist.
//
// Errors: *provider.ScopeError when the query is refused (it cannot be
// scoped, names an unknown table or column or one outside the allowed
// schemas, or query-scoped requests are not enabled for the resource);
// any other error is a failure to read the catalogue, and the query may be
// scoped again later. Scope changes nothing.
func (p *Provider) Scope(ctx context.Context, req provider.ScopeRequest) (provider.ScopeResponse, error) {
	if p.cfg.querySchemas == nil {
		return provider.ScopeResponse{}, &provider.ScopeError{Reason: fmt.Sprintf("query-scoped requests are not enabled for resource %s", p.cfg.resource)}
	}
	privs, err := sqlscope.Postgres(req.Query, "public")
	if err != nil {
		return provider.ScopeResponse{}, err
	}
	if len(privs) == 0 {
		return provider.ScopeResponse{}, &provider.ScopeError{Reason: "the query needs no table privileges; there is nothing to grant"}
	}
	for _, pr := range privs {
		if !slices.Contains(p.cfg.querySchemas, pr.Schema) {
			return provider.ScopeResponse{}, &provider.ScopeError{Reason: fmt.Sprintf(
				"table %s.%s is in schema %s, which is not allowed for query-scoped requests (allowed: %s)",
				pr.Schema, pr.Table, pr.Schema, strings.Join(p.cfg.querySchemas, ", "))}
		}
		if why := withinLevel(p.cfg.levels, req.Access, pr); why != "" {
			return provider.ScopeResponse{}, &provider.ScopeError{Reason: why}
		}
	}
	pool, err := p.db()
	if err != nil {
		return provider.ScopeResponse{}, fmt.Errorf("postgres scope: %w", err)
	}
	var refusal *provider.ScopeError
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var cerr error
		refusal, cerr = checkCatalogue(ctx, tx, privs)
		return cerr
	})
	if err != nil {
		return provider.ScopeResponse{}, fmt.Errorf("postgres scope: read the catalogue: %w", err)
	}
	if refusal != nil {
		return provider.ScopeResponse{}, refusal
	}
	return provider.ScopeResponse{Privileges: privs}, nil
}

// checkCatalogue returns a refusal for the first privilege whose table or
// column does not exist.
func checkCatalogue(ctx context.Context, tx pgx.Tx, privs []jit.Privilege) (*provider.ScopeError, error) {
	for _, pr := range privs {
		rk, err := relKind(ctx, tx, pr.Schema, pr.Table)
		if err != nil {
			return nil, err
		}
		if rk.kind == "" {
			return &provider.ScopeError{Reason: fmt.Sprintf("table %s.%s does not exist", pr.Schema, pr.Table)}, nil
		}
		if !strings.Contains(tableKinds, "'"+rk.kind+"'") {
			return &provider.ScopeError{Reason: fmt.Sprintf("%s.%s is not a table or view", pr.Schema, pr.Table)}, nil
		}
		if len(pr.Columns) == 0 {
			continue
		}
		rows, err := tx.Query(ctx, `
			SELECT c FROM pg_catalog.unnest($2::text[]) AS c
			WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
			                  WHERE a.attrelid = $1 AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped)
			ORDER BY 1`, rk.oid, pr.Columns)
		if err != nil {
			return nil, fmt.Errorf("look up the columns of %s: %w", qualified(pr.Schema, pr.Table), err)
		}
		missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("look up the columns of %s: %w", qualified(pr.Schema, pr.Table), err)
		}
		if len(missing) > 0 {
			return &provider.ScopeError{Reason: fmt.Sprintf("table %s.%s has no column %s", pr.Schema, pr.Table, strings.Join(missing, ", "))}, nil
		}
	}
	return nil, nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// withinLevel says why pr lies outside what access level access grants, or
// "" when it lies within: a query narrows the level it is asked under, it
// never widens it.
func withinLevel(levels map[string]level, access string, pr jit.Privilege) string {
	lv, ok := levels[access]
	if !ok {
		return fmt.Sprintf("access level %q is not configured for query-scoped requests", access)
	}
	if len(lv.privileges) == 0 {
		return fmt.Sprintf("access level %s grants roles, not table privileges; ask for a level with privileges", access)
	}
	if !lv.has(pr.Action) {
		return fmt.Sprintf("%s needs %s, which access level %s does not grant (%s)", pr, pr.Action, access, strings.Join(lv.privileges, ", "))
	}
	if !slices.Contains(lv.schemas, pr.Schema) {
		return fmt.Sprintf("%s is in schema %s, outside access level %s (%s)", pr, pr.Schema, access, strings.Join(lv.schemas, ", "))
	}
	return ""
}
