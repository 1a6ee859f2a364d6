package postgres

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// tableKinds are the relkinds GRANT ... ON ALL TABLES IN SCHEMA covers and
// a query may name: tables, views, materialized views, foreign and
// partitioned tables.
const tableKinds = "('r', 'v', 'm', 'f', 'p')"

// groupSpec is a group role and exactly what it must hold.
type groupSpec struct {
	name   string
	access string // the level's name; "" for the query group
	kind   string // kindLevel or kindQuery
	level  level
}

func (p *Provider) levelGroup(access string, l level) groupSpec {
	return groupSpec{name: groupName(p.cfg.database, p.cfg.resource, access), access: access, kind: kindLevel, level: l}
}

// queryGroup holds USAGE on the schemas of the query allowlist for the
// users of query-scoped requests. Through it, those users never appear in
// a schema's own ACL (which, like a table's, is one catalogue row with a
// size limit, and which concurrent GRANTs would contend for).
func (p *Provider) queryGroup() groupSpec {
	return groupSpec{
		name: queryGroupName(p.cfg.database, p.cfg.resource), kind: kindQuery,
		level: level{schemas: p.cfg.querySchemas},
	}
}

func (g groupSpec) marker(p *Provider) marker {
	return marker{JIT: markGroup, Database: p.cfg.database, Resource: p.cfg.resource, Access: g.access, Kind: g.kind}
}

// ensureGroup syncs the group role once per provider, and again after
// forgetGroup (the role was found missing). Concurrent callers for one
// group wait for one sync; they hold no connection while waiting.
func (p *Provider) ensureGroup(ctx context.Context, pool *pgxpool.Pool, g groupSpec) error {
	st := p.groupState(g.name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ready {
		return nil
	}
	if _, err := p.inTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error { return p.syncGroup(ctx, tx, g) }); err != nil {
		return err
	}
	st.ready = true
	return nil
}

func (p *Provider) groupState(name string) *groupState {
	p.groupsMu.Lock()
	defer p.groupsMu.Unlock()
	st, ok := p.groups[name]
	if !ok {
		st = &groupState{}
		p.groups[name] = st
	}
	return st
}

func (p *Provider) forgetGroup(name string) {
	st := p.groupState(name)
	st.mu.Lock()
	st.ready = false
	st.mu.Unlock()
}

// syncGroup creates the group role if needed and makes what it holds
// exactly g.level: privileges it holds beyond the settings (a level whose
// settings were narrowed) are revoked, and the configured ones granted:
//
//   - USAGE on each schema, and the level's privileges on every table of
//     each schema (GRANT ... ON ALL TABLES IN SCHEMA);
//   - with INSERT, USAGE on the sequences that those tables' columns own or
//     take their defaults from (serial and identity columns);
//   - default privileges (ALTER DEFAULT PRIVILEGES FOR ROLE o IN SCHEMA s)
//     for the tables that the admin role, or a role it is a member of that
//     owns the schema or one of its tables, creates later; tables that
//     other roles create later are covered at the next sync, that is, by
//     the next provider instance (a policy reload or a restart);
//   - membership of the level's roles.
//
// It runs under the group's advisory lock, so that replicas syncing at
// once do it one after the other, and holds the table-ACL lock
// exclusively, so that no query-scoped GRANT rewrites a table's ACL
// meanwhile.
func (p *Provider) syncGroup(ctx context.Context, tx pgx.Tx, g groupSpec) error {
	if err := advisoryLock(ctx, tx, groupLock(g.name)); err != nil {
		return err
	}
	if err := advisoryLock(ctx, tx, aclLockKey); err != nil {
		return err
	}
	want := g.marker(p)
	r, err := roleInfo(ctx, tx, g.name)
	if err != nil {
		return err
	}
	if !r.exists {
		stmt := "CREATE ROLE " + ident(g.name) + " WITH NOLOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		comment, err := quoteLiteral(want.encode())
		if err != nil {
			return fmt.Errorf("comment: %w", err)
		}
		if _, err := tx.Exec(ctx, "COMMENT ON ROLE "+ident(g.name)+" IS "+comment); err != nil {
			return fmt.Errorf("comment on role: %w", err)
		}
		if r, err = roleInfo(ctx, tx, g.name); err != nil {
			return err
		}
	} else if !r.marked || r.marker != want {
		return fmt.Errorf("a role named %s exists but jit did not create it as this group; it is left alone", g.name)
	}
	if err := checkMemberRoles(ctx, tx, g.level.roles); err != nil {
		return err
	}
	if err := revokeStale(ctx, tx, g, r.oid); err != nil {
		return err
	}
	return grantGroup(ctx, tx, g, r.oid)
}

// checkMemberRoles refuses level roles that do not exist or are
// superusers: membership of a superuser role would let a user SET ROLE to
// it, which no access level may give.
func checkMemberRoles(ctx context.Context, tx pgx.Tx, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT rolname, rolsuper FROM pg_catalog.pg_roles WHERE rolname = ANY($1)`, roles)
	if err != nil {
		return fmt.Errorf("look up the level's roles: %w", err)
	}
	found := map[string]bool{}
	var name string
	var super bool
	_, err = pgx.ForEachRow(rows, []any{&name, &super}, func() error {
		if super {
			return fmt.Errorf("the level's role %s is a superuser role; its membership cannot be granted", name)
		}
		found[name] = true
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range roles {
		if !found[n] {
			return fmt.Errorf("the level's role %s does not exist", n)
		}
	}
	return nil
}

// aclEntry is one privilege held by the group role.
type aclEntry struct {
	oid        uint32
	schema     string
	name       string
	kind       string // relkind, objtype of a default ACL, or "n" for a schema
	privilege  string
	owner      string // for default ACLs: the role whose future objects they cover
	hasSchema  bool   // for default ACLs: whether they are limited to schema
	membership bool
}

// revokeStale revokes what the group holds beyond g.level.
func revokeStale(ctx context.Context, tx pgx.Tx, g groupSpec, oid uint32) error {
	wantSeqs := map[uint32]bool{}
	if g.level.has("INSERT") {
		seqs, err := sequencesInSchemas(ctx, tx, g.level.schemas)
		if err != nil {
			return err
		}
		for _, s := range seqs {
			wantSeqs[s.oid] = true
		}
	}
	held, err := heldByGroup(ctx, tx, oid)
	if err != nil {
		return err
	}
	owners := map[string][]string{}
	for _, s := range g.level.schemas {
		if owners[s], err = defaultOwners(ctx, tx, s); err != nil {
			return err
		}
	}
	inSchemas := func(s string) bool { return slices.Contains(g.level.schemas, s) }
	for _, e := range held {
		var stmt string
		switch {
		case e.membership:
			if !slices.Contains(g.level.roles, e.name) {
				stmt = "REVOKE " + ident(e.name) + " FROM " + ident(g.name)
			}
		case e.owner != "":
			keep := e.hasSchema && inSchemas(e.schema) && slices.Contains(owners[e.schema], e.owner) &&
				((e.kind == "r" && g.level.has(e.privilege)) || (e.kind == "S" && e.privilege == "USAGE" && g.level.has("INSERT")))
			if !keep {
				stmt = "ALTER DEFAULT PRIVILEGES FOR ROLE " + ident(e.owner)
				if e.hasSchema {
					stmt += " IN SCHEMA " + ident(e.schema)
				}
				stmt += " REVOKE " + e.privilege + " ON " + defaultACLObjects[e.kind] + " FROM " + ident(g.name)
			}
		case e.kind == "n":
			if !(e.privilege == "USAGE" && inSchemas(e.name)) {
				stmt = "REVOKE " + e.privilege + " ON SCHEMA " + ident(e.name) + " FROM " + ident(g.name)
			}
		case e.kind == "S":
			if !(e.privilege == "USAGE" && wantSeqs[e.oid]) {
				stmt = "REVOKE " + e.privilege + " ON SEQUENCE " + qualified(e.schema, e.name) + " FROM " + ident(g.name)
			}
		default:
			if !(inSchemas(e.schema) && g.level.has(e.privilege)) {
				stmt = "REVOKE " + e.privilege + " ON TABLE " + qualified(e.schema, e.name) + " FROM " + ident(g.name)
			}
		}
		if stmt == "" {
			continue
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("revoke a privilege beyond the settings: %w", err)
		}
	}
	return nil
}

// defaultACLObjects names the object types of pg_default_acl.defaclobjtype.
var defaultACLObjects = map[string]string{
	"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS",
}

// heldByGroup lists every privilege and membership the role oid holds in
// this database. pg_shdepend records (with an index on the role) every
// object whose ACL names a role, which spares scanning the catalogues.
func heldByGroup(ctx context.Context, tx pgx.Tx, oid uint32) ([]aclEntry, error) {
	var out []aclEntry
	scan := func(what, query string, dest func(*aclEntry) []any) error {
		rows, err := tx.Query(ctx, query, oid)
		if err != nil {
			return fmt.Errorf("list the group's %s: %w", what, err)
		}
		var e aclEntry
		_, err = pgx.ForEachRow(rows, dest(&e), func() error {
			out = append(out, e)
			e = aclEntry{}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list the group's %s: %w", what, err)
		}
		return nil
	}
	const shdepend = `
		SELECT objid FROM pg_catalog.pg_shdepend
		WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
		  AND refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND refobjid = $1 AND deptype = 'a'
		  AND classid = `
	err := scan("table privileges", `
		SELECT c.oid, n.nspname, c.relname, c.relkind::text, a.privilege_type
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
		WHERE c.oid IN (`+shdepend+`'pg_catalog.pg_class'::pg_catalog.regclass)
		  AND a.grantee = $1`,
		func(e *aclEntry) []any { return []any{&e.oid, &e.schema, &e.name, &e.kind, &e.privilege} })
	if err != nil {
		return nil, err
	}
	err = scan("schema privileges", `
		SELECT n.oid, n.nspname, n.nspname, 'n', a.privilege_type
		FROM pg_catalog.pg_namespace n
		CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
		WHERE n.oid IN (`+shdepend+`'pg_catalog.pg_namespace'::pg_catalog.regclass)
		  AND a.grantee = $1`,
		func(e *aclEntry) []any { return []any{&e.oid, &e.schema, &e.name, &e.kind, &e.privilege} })
	if err != nil {
		return nil, err
	}
	err = scan("default privileges", `
		SELECT d.oid, COALESCE(n.nspname, ''), r.rolname, d.defaclobjtype::text, a.privilege_type, r.rolname, n.oid IS NOT NULL
		FROM pg_catalog.pg_default_acl d
		JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
		LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
		CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) a
		WHERE d.oid IN (`+shdepend+`'pg_catalog.pg_default_acl'::pg_catalog.regclass)
		  AND a.grantee = $1`,
		func(e *aclEntry) []any {
			return []any{&e.oid, &e.schema, &e.name, &e.kind, &e.privilege, &e.owner, &e.hasSchema}
		})
	if err != nil {
		return nil, err
	}
	err = scan("memberships", `
		SELECT r.oid, '', r.rolname, '', '', true
		FROM pg_catalog.pg_auth_members m
		JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
		WHERE m.member = $1`,
		func(e *aclEntry) []any {
			return []any{&e.oid, &e.schema, &e.name, &e.kind, &e.privilege, &e.membership}
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// grantGroup grants g.level to the group role oid and checks that the
// grants took effect: GRANT by a role without the right to grant a
// privilege only warns, and grants nothing.
func grantGroup(ctx context.Context, tx pgx.Tx, g groupSpec, oid uint32) error {
	name := ident(g.name)
	privs := strings.Join(g.level.privileges, ", ")
	exec := func(what, stmt string) error {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	for _, s := range g.level.schemas {
		if err := exec("grant usage on schema "+s, "GRANT USAGE ON SCHEMA "+ident(s)+" TO "+name); err != nil {
			return err
		}
		if len(g.level.privileges) == 0 {
			continue
		}
		if err := exec("grant the level's privileges in schema "+s, "GRANT "+privs+" ON ALL TABLES IN SCHEMA "+ident(s)+" TO "+name); err != nil {
			return err
		}
		owners, err := defaultOwners(ctx, tx, s)
		if err != nil {
			return err
		}
		for _, o := range owners {
			prefix := "ALTER DEFAULT PRIVILEGES FOR ROLE " + ident(o) + " IN SCHEMA " + ident(s)
			if err := exec("default privileges in schema "+s, prefix+" GRANT "+privs+" ON TABLES TO "+name); err != nil {
				return err
			}
			if g.level.has("INSERT") {
				if err := exec("default privileges in schema "+s, prefix+" GRANT USAGE ON SEQUENCES TO "+name); err != nil {
					return err
				}
			}
		}
	}
	if g.level.has("INSERT") {
		seqs, err := sequencesInSchemas(ctx, tx, g.level.schemas)
		if err != nil {
			return err
		}
		for _, s := range seqs {
			if err := exec("grant usage on sequence", "GRANT USAGE ON SEQUENCE "+qualified(s.schema, s.name)+" TO "+name); err != nil {
				return err
			}
		}
	}
	for _, r := range g.level.roles {
		if err := exec("grant the level's role "+r, "GRANT "+ident(r)+" TO "+name); err != nil {
			return err
		}
	}
	return checkGroupGrants(ctx, tx, g, oid)
}

// checkGroupGrants verifies that the group holds every privilege of its
// level.
func checkGroupGrants(ctx context.Context, tx pgx.Tx, g groupSpec, oid uint32) error {
	for _, s := range g.level.schemas {
		var ok bool
		err := tx.QueryRow(ctx, `SELECT pg_catalog.has_schema_privilege($1::oid, $2::text, 'USAGE')`, oid, s).Scan(&ok)
		if err != nil {
			return fmt.Errorf("check usage on schema %s: %w", s, err)
		}
		if !ok {
			return fmt.Errorf("USAGE on schema %s was not granted: the admin role may not grant it (it must own the schema or hold USAGE WITH GRANT OPTION)", s)
		}
	}
	if len(g.level.privileges) == 0 {
		return nil
	}
	var missing []string
	if g.level.has("INSERT") {
		seqs, err := sequencesInSchemas(ctx, tx, g.level.schemas)
		if err != nil {
			return err
		}
		for _, s := range seqs {
			var ok bool
			err := tx.QueryRow(ctx, `SELECT pg_catalog.has_sequence_privilege($1::oid, $2::oid, 'USAGE')`, oid, s.oid).Scan(&ok)
			if err != nil {
				return fmt.Errorf("check usage on sequence %s: %w", qualified(s.schema, s.name), err)
			}
			if !ok {
				missing = append(missing, "USAGE on sequence "+qualified(s.schema, s.name))
			}
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT n.nspname, c.relname, p.priv
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		CROSS JOIN pg_catalog.unnest($2::text[]) AS p(priv)
		WHERE n.nspname = ANY($3) AND c.relkind IN `+tableKinds+`
		  AND NOT pg_catalog.has_table_privilege($1::oid, c.oid, p.priv)
		ORDER BY 1, 2, 3
		LIMIT 5`, oid, g.level.privileges, g.level.schemas)
	if err != nil {
		return fmt.Errorf("check the level's privileges: %w", err)
	}
	var schema, table, priv string
	_, err = pgx.ForEachRow(rows, []any{&schema, &table, &priv}, func() error {
		missing = append(missing, priv+" on "+qualified(schema, table))
		return nil
	})
	if err != nil {
		return fmt.Errorf("check the level's privileges: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("privileges were not granted (the admin role must own the tables or hold the privileges WITH GRANT OPTION): %s", strings.Join(missing, ", "))
	}
	return nil
}

// defaultOwners returns the roles whose future tables in schema get the
// level's default privileges: the admin role itself, the schema's owner
// and the owners of its tables, where the admin role is a member of them
// (ALTER DEFAULT PRIVILEGES FOR ROLE requires it). Built-in roles (pg_*)
// are left out.
func defaultOwners(ctx context.Context, tx pgx.Tx, schema string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT r.rolname
		FROM pg_catalog.pg_roles r
		WHERE (r.rolname = CURRENT_USER
		       OR r.oid IN (SELECT nspowner FROM pg_catalog.pg_namespace WHERE nspname = $1)
		       OR r.oid IN (SELECT c.relowner FROM pg_catalog.pg_class c
		                    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		                    WHERE n.nspname = $1 AND c.relkind IN `+tableKinds+`))
		  AND NOT pg_catalog.starts_with(r.rolname, 'pg_')
		  AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'MEMBER')
		ORDER BY 1`, schema)
	if err != nil {
		return nil, fmt.Errorf("find the owners in schema %s: %w", schema, err)
	}
	owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find the owners in schema %s: %w", schema, err)
	}
	return owners, nil
}

// relation is a table or sequence.
type relation struct {
	oid          uint32
	schema, name string
}

// sequencesInSchemas returns the sequences that columns of the tables in
// schemas own (serial, identity) or take a default from.
func sequencesInSchemas(ctx context.Context, tx pgx.Tx, schemas []string) ([]relation, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.oid FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN `+tableKinds, schemas)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return sequencesOf(ctx, tx, tables)
}

// sequencesOf returns the sequences that columns of tables own (serial,
// identity: pg_depend 'a' and 'i') or take a default from (nextval in a
// column default: pg_attrdef depends on the sequence). Inserting a row
// calls nextval on them, which needs USAGE.
func sequencesOf(ctx context.Context, tx pgx.Tx, tables []uint32) ([]relation, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `
		SELECT s.oid, sn.nspname, s.relname
		FROM pg_catalog.pg_class s
		JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
		WHERE s.relkind = 'S' AND s.oid IN (
			SELECT d.objid FROM pg_catalog.pg_depend d
			WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
			  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
			  AND d.refobjid = ANY($1::oid[]) AND d.deptype IN ('a', 'i')
			UNION
			SELECT d.refobjid FROM pg_catalog.pg_attrdef ad
			JOIN pg_catalog.pg_depend d
			  ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid = ad.oid
			 AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
			WHERE ad.adrelid = ANY($1::oid[]))
		ORDER BY s.oid`, tables)
	if err != nil {
		return nil, fmt.Errorf("find the tables' sequences: %w", err)
	}
	var out []relation
	var r relation
	_, err = pgx.ForEachRow(rows, []any{&r.oid, &r.schema, &r.name}, func() error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find the tables' sequences: %w", err)
	}
	return out, nil
}

// relationsWithACLFor returns the tables and sequences of this database
// whose ACL (or a column's) names the role oid.
func relationsWithACLFor(ctx context.Context, tx pgx.Tx, oid uint32) ([]uint32, error) {
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT objid FROM pg_catalog.pg_shdepend
		WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
		  AND classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		  AND refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND refobjid = $1 AND deptype = 'a'`, oid)
	if err != nil {
		return nil, fmt.Errorf("find the role's tables: %w", err)
	}
	oids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("find the role's tables: %w", err)
	}
	return oids, nil
}

// lockRelations takes the advisory lock of each table or sequence, in
// OID order so that transactions locking overlapping sets queue instead
// of deadlocking.
func lockRelations(ctx context.Context, tx pgx.Tx, oids []uint32) error {
	sorted := append([]uint32(nil), oids...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	sorted = slices.Compact(sorted)
	for _, oid := range sorted {
		if err := advisoryLock(ctx, tx, relLock(oid)); err != nil {
			return err
		}
	}
	return nil
}
