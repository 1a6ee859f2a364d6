package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/sqlscope"
)

// Scope derives the table privileges a query needs, with a MySQL grammar
// (sqlscope.MySQL; unqualified tables are in the database setting), then
// checks, reading information_schema only, that each table exists in one
// of query.databases and that each named column exists.
//
// Errors: a *provider.ScopeError when the query is refused (it cannot be
// scoped, a table is elsewhere or missing, query-scoped requests are not
// enabled for the resource); any other error is a failure to reach the
// server, after which the query may be submitted again. It changes
// nothing, so it may be called any number of times.
func (p *Provider) Scope(ctx context.Context, req provider.ScopeRequest) (provider.ScopeResponse, error) {
	if !p.cfg.queryScope {
		return provider.ScopeResponse{}, &provider.ScopeError{Reason: fmt.Sprintf(
			"query-scoped requests are not enabled for resource %s (its settings have no query.databases)", p.resource)}
	}
	privs, err := sqlscope.MySQL(req.Query, p.cfg.database)
	if err != nil {
		return provider.ScopeResponse{}, err
	}
	if len(privs) == 0 {
		return provider.ScopeResponse{}, &provider.ScopeError{Reason: "the query uses no table"}
	}
	columns := map[string]map[string]bool{}
	for i := range privs {
		pr := &privs[i]
		if pr.Schema == "" {
			pr.Schema = p.cfg.database
		}
		name := pr.Schema + "." + pr.Table
		if !p.queryDatabase(pr.Schema) {
			return provider.ScopeResponse{}, &provider.ScopeError{Reason: fmt.Sprintf(
				"table %s is in database %s, which is not open to query-scoped requests (open: %s)",
				name, pr.Schema, strings.Join(p.cfg.queryDBs, ", "))}
		}
		if err := checkIdent(pr.Table); err != nil {
			return refuse(fmt.Sprintf("table %q: %v", pr.Table, err))
		}
		cols, seen := columns[name]
		if !seen {
			var n int
			if err := p.db.QueryRowContext(ctx, queryTableExists, pr.Schema, pr.Table).Scan(&n); err != nil {
				return provider.ScopeResponse{}, fmt.Errorf("mysql scope: looking up table %s: %w", name, err)
			}
			if n == 0 {
				return refuse(fmt.Sprintf("table %s does not exist", name))
			}
			if cols, err = p.tableColumns(ctx, pr.Schema, pr.Table); err != nil {
				return provider.ScopeResponse{}, fmt.Errorf("mysql scope: reading the columns of %s: %w", name, err)
			}
			columns[name] = cols
		}
		for _, c := range pr.Columns {
			// Column names are case-insensitive in MySQL and MariaDB.
			if !cols[strings.ToLower(c)] {
				return refuse(fmt.Sprintf("column %s does not exist in table %s", c, name))
			}
			if err := checkIdent(c); err != nil {
				return refuse(fmt.Sprintf("column %q: %v", c, err))
			}
		}
		if len(pr.Columns) > 0 && !columnActions[pr.Action] {
			return refuse(fmt.Sprintf("%s cannot be limited to columns", pr.Action))
		}
		if !scopedActions[pr.Action] {
			return refuse(fmt.Sprintf("%s is not an action a query-scoped grant can have", pr.Action))
		}
		if why := withinLevel(p.cfg.levels, req.Access, *pr); why != "" {
			return refuse(why)
		}
	}
	return provider.ScopeResponse{Privileges: privs}, nil
}

// withinLevel says why pr lies outside what access level access grants, or
// "" when it lies within: a query narrows a level, it never widens it.
func withinLevel(levels map[string]level, access string, pr jit.Privilege) string {
	lv, ok := levels[access]
	if !ok {
		return fmt.Sprintf("access level %q is not configured for query-scoped requests", access)
	}
	if len(lv.privileges) == 0 {
		return fmt.Sprintf("access level %s grants roles, not table privileges; ask for a level with privileges", access)
	}
	if !slices.Contains(lv.privileges, pr.Action) {
		return fmt.Sprintf("%s needs %s, which access level %s does not grant (%s)", pr, pr.Action, access, strings.Join(lv.privileges, ", "))
	}
	if !slices.Contains(lv.databases, pr.Schema) {
		return fmt.Sprintf("%s is in database %s, outside access level %s (%s)", pr, pr.Schema, access, strings.Join(lv.databases, ", "))
	}
	return ""
}

func (p *Provider) tableColumns(ctx context.Context, schema, table string) (map[string]bool, error) {
	rows, err := p.db.QueryContext(ctx, queryColumns, schema, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out[strings.ToLower(c)] = true
	}
	return out, rows.Err()
}

// refuse is a Scope answer refusing the query for reason.
func refuse(reason string) (provider.ScopeResponse, error) {
	return provider.ScopeResponse{}, &provider.ScopeError{Reason: reason}
}
