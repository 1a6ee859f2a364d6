package sqlscope

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/jitaccess/jit"
)

// maxDepth bounds the walkers' recursion (each nested expression, query
// or FROM item is a level; a chain of 300 ANDs in MySQL's left-deep tree
// is about 600). The parsers have their own limits; this one keeps a
// pathological tree from costing more than a refusal.
const maxDepth = 1000

// Postgres parses query with the PostgreSQL parser (the server's own
// grammar, through libpg_query) and returns the table privileges it
// needs, sorted and merged. Unqualified table names resolve to
// defaultSchema. A query that cannot be scoped exactly is refused with a
// *provider.ScopeError naming the statement and the reason; Postgres never
// returns broader privileges instead. It is a pure function of its
// arguments and safe for concurrent use.
func Postgres(query, defaultSchema string) ([]jit.Privilege, error) {
	if err := checkInput(query); err != nil {
		return nil, err
	}
	tree, err := pg_query.Parse(query)
	if err != nil {
		// The parser's message ("syntax error at or near ...") quotes only
		// the requester's own query.
		msg := bounded(err.Error(), maxMessage)
		if msg == "" {
			msg = "query could not be parsed"
		}
		if strings.Contains(msg, "recursion depth") || strings.Contains(msg, "stack depth") {
			msg = "query is nested too deeply"
		}
		return nil, scopeErr("%s", msg)
	}
	if len(tree.GetStmts()) == 0 {
		return nil, scopeErr("query is empty")
	}
	privs := newPrivSet()
	for i, raw := range tree.GetStmts() {
		w := &pgWalker{schema: defaultSchema, privs: privs}
		if err := w.run(raw.GetStmt()); err != nil {
			return nil, scopeErr("statement %d: %s", i+1, err.Error())
		}
	}
	out := privs.list()
	if len(out) == 0 {
		return nil, scopeErr("query uses no table, so there is no privilege to grant")
	}
	return out, nil
}

type pgWalker struct {
	schema string
	privs  *privSet
	depth  int
}

// pgScope is one level of name resolution: the CTE names a WITH defines
// and the FROM items of one query level.
type pgScope struct {
	parent *pgScope
	ctes   map[string]bool
	rels   []*pgRel
}

// pgRel is one FROM item (or the target of INSERT/UPDATE/DELETE) as
// column references can name it.
type pgRel struct {
	// name is what qualifies its columns: the alias, else the relation name.
	name string
	// schema and table are set for a table; empty for a CTE, subquery or
	// function.
	schema, table string
	// bare is true when the table has no alias, so that
	// schema.table.column also names it.
	bare bool
	// target is true for the table an INSERT, UPDATE or DELETE writes.
	// Tables in FROM always get SELECT; a target gets SELECT only when its
	// columns are read.
	target bool
}

func (w *pgWalker) run(n *pg_query.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ref, ok := r.(refusal)
			if !ok {
				panic(r)
			}
			err = errors.New(ref.reason)
		}
	}()
	w.stmt(n)
	return nil
}

func (w *pgWalker) enter() {
	w.depth++
	if w.depth > maxDepth {
		refuse("query is nested too deeply")
	}
}

func (w *pgWalker) leave() { w.depth-- }

const lockingRefusal = "SELECT ... FOR UPDATE/FOR SHARE needs more than SELECT privilege; run the query without the locking clause"

// stmt scopes one top-level statement.
func (w *pgWalker) stmt(n *pg_query.Node) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		w.selectStmt(x.SelectStmt, nil)
	case *pg_query.Node_InsertStmt:
		w.insertStmt(x.InsertStmt, nil)
	case *pg_query.Node_UpdateStmt:
		w.updateStmt(x.UpdateStmt, nil)
	case *pg_query.Node_DeleteStmt:
		w.deleteStmt(x.DeleteStmt, nil)
	case *pg_query.Node_ExplainStmt:
		// EXPLAIN needs the privileges of the statement it plans, and
		// EXPLAIN ANALYZE runs it, which needs the same privileges: both
		// are scoped as the inner statement.
		switch x.ExplainStmt.GetQuery().GetNode().(type) {
		case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt:
			w.stmt(x.ExplainStmt.GetQuery())
		default:
			refuse("EXPLAIN of %s cannot be scoped to table privileges", pgStmtName(x.ExplainStmt.GetQuery()))
		}
	case *pg_query.Node_TransactionStmt:
		switch x.TransactionStmt.GetKind() {
		case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START,
			pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT, pg_query.TransactionStmtKind_TRANS_STMT_RELEASE,
			pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
			// Transaction control needs no privilege.
		default:
			refuse("two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) is not allowed")
		}
	case *pg_query.Node_MergeStmt:
		refuse("MERGE is not supported; write it as INSERT ... ON CONFLICT, UPDATE or DELETE")
	case *pg_query.Node_CreateTableAsStmt:
		refuse("CREATE TABLE AS creates a table and cannot be scoped to table privileges")
	default:
		refuse("%s cannot be scoped to table privileges", pgStmtName(n))
	}
}

// pgStmtNames names statements whose parser type name does not read as
// the SQL a person wrote.
var pgStmtNames = map[string]string{
	"CreateStmt":         "CREATE TABLE",
	"IndexStmt":          "CREATE INDEX",
	"ViewStmt":           "CREATE VIEW",
	"CreatedbStmt":       "CREATE DATABASE",
	"DropdbStmt":         "DROP DATABASE",
	"CreateSeqStmt":      "CREATE SEQUENCE",
	"AlterSeqStmt":       "ALTER SEQUENCE",
	"CreateTrigStmt":     "CREATE TRIGGER",
	"RuleStmt":           "CREATE RULE",
	"DefineStmt":         "CREATE (aggregate, operator or type)",
	"VariableShowStmt":   "SHOW",
	"DeclareCursorStmt":  "DECLARE CURSOR",
	"FetchStmt":          "FETCH/MOVE",
	"ClosePortalStmt":    "CLOSE",
	"RenameStmt":         "ALTER ... RENAME",
	"CheckPointStmt":     "CHECKPOINT",
	"CopyStmt":           "COPY",
	"LockStmt":           "LOCK",
	"CallStmt":           "CALL",
	"DoStmt":             "DO",
	"CommentStmt":        "COMMENT",
	"TruncateStmt":       "TRUNCATE",
	"ListenStmt":         "LISTEN",
	"UnlistenStmt":       "UNLISTEN",
	"NotifyStmt":         "NOTIFY",
	"PrepareStmt":        "PREPARE",
	"ExecuteStmt":        "EXECUTE",
	"DeallocateStmt":     "DEALLOCATE",
	"DiscardStmt":        "DISCARD",
	"LoadStmt":           "LOAD",
	"RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
	"SecLabelStmt":       "SECURITY LABEL",
	"ConstraintsSetStmt": "SET CONSTRAINTS",
}

func pgStmtName(n *pg_query.Node) string {
	switch x := n.GetNode().(type) {
	case nil:
		return "an empty statement"
	case *pg_query.Node_DropStmt:
		return "DROP " + pgObjectType(x.DropStmt.GetRemoveType())
	case *pg_query.Node_AlterTableStmt:
		return "ALTER " + pgObjectType(x.AlterTableStmt.GetObjtype())
	case *pg_query.Node_GrantStmt:
		if x.GrantStmt.GetIsGrant() {
			return "GRANT"
		}
		return "REVOKE"
	case *pg_query.Node_GrantRoleStmt:
		if x.GrantRoleStmt.GetIsGrant() {
			return "GRANT"
		}
		return "REVOKE"
	case *pg_query.Node_VariableSetStmt:
		if x.VariableSetStmt.GetKind() == pg_query.VariableSetKind_VAR_RESET || x.VariableSetStmt.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL {
			return "RESET"
		}
		return "SET"
	case *pg_query.Node_VacuumStmt:
		if x.VacuumStmt.GetIsVacuumcmd() {
			return "VACUUM"
		}
		return "ANALYZE"
	}
	t := reflect.TypeOf(n.GetNode())
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := strings.TrimPrefix(t.Name(), "Node_")
	if s, ok := pgStmtNames[name]; ok {
		return s
	}
	return stmtName(name)
}

func pgObjectType(t pg_query.ObjectType) string {
	return strings.ReplaceAll(strings.TrimPrefix(t.String(), "OBJECT_"), "_", " ")
}

// pgNodeKind names an expression or FROM item kind for a refusal.
func pgNodeKind(n *pg_query.Node) string {
	t := reflect.TypeOf(n.GetNode())
	if t == nil {
		return "empty"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return strings.TrimPrefix(t.Name(), "Node_")
}

// table resolves a table reference to (schema, table), refusing names
// outside the target's data.
func (w *pgWalker) table(rv *pg_query.RangeVar) (string, string) {
	if rv.GetCatalogname() != "" {
		refuse("table %s names a database; use schema.table", quoteName(rv.GetCatalogname()+"."+rv.GetSchemaname()+"."+rv.GetRelname()))
	}
	schema, table := rv.GetSchemaname(), rv.GetRelname()
	if schema == "" {
		// pg_catalog is searched before the search_path, and every relation
		// in it is named pg_*, so an unqualified pg_* name may well be a
		// system catalogue rather than a table in the default schema.
		if strings.HasPrefix(table, "pg_") {
			refuse("table %s may resolve to the system catalogue; qualify it with its schema", quoteName(table))
		}
		if w.schema == "" {
			refuse("table %s has no schema and no default schema is configured", quoteName(table))
		}
		schema = w.schema
	}
	if pgSystemSchema(schema) {
		refuse("table %s.%s is in a system catalogue, not the target's data", quoteName(schema), quoteName(table))
	}
	return schema, table
}

func pgSystemSchema(s string) bool {
	return strings.HasPrefix(s, "pg_") || s == "information_schema"
}

func aliasName(a *pg_query.Alias) string {
	if a == nil {
		return ""
	}
	return a.GetAliasname()
}

// withClause defines a WITH's CTE names in a new scope and scopes their
// queries. A CTE sees the CTEs before it; with RECURSIVE, all of them.
func (w *pgWalker) withClause(wc *pg_query.WithClause, parent *pgScope) *pgScope {
	if wc == nil {
		return parent
	}
	sc := &pgScope{parent: parent, ctes: map[string]bool{}}
	if wc.GetRecursive() {
		for _, n := range wc.GetCtes() {
			sc.ctes[n.GetCommonTableExpr().GetCtename()] = true
		}
	}
	for _, n := range wc.GetCtes() {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			refuse("WITH item of kind %s is not supported", pgNodeKind(n))
		}
		switch q := cte.GetCtequery().GetNode().(type) {
		case *pg_query.Node_SelectStmt:
			w.selectStmt(q.SelectStmt, sc)
		case *pg_query.Node_InsertStmt:
			w.insertStmt(q.InsertStmt, sc)
		case *pg_query.Node_UpdateStmt:
			w.updateStmt(q.UpdateStmt, sc)
		case *pg_query.Node_DeleteStmt:
			w.deleteStmt(q.DeleteStmt, sc)
		default:
			refuse("WITH %s AS (%s) cannot be scoped to table privileges", quoteName(cte.GetCtename()), pgStmtName(cte.GetCtequery()))
		}
		if cc := cte.GetCycleClause(); cc != nil {
			w.expr(cc.GetCycleMarkValue(), sc)
			w.expr(cc.GetCycleMarkDefault(), sc)
		}
		sc.ctes[cte.GetCtename()] = true
	}
	return sc
}

func (w *pgWalker) selectStmt(s *pg_query.SelectStmt, parent *pgScope) {
	if s == nil {
		return
	}
	w.enter()
	defer w.leave()
	sc := w.withClause(s.GetWithClause(), parent)
	if s.GetIntoClause() != nil {
		refuse("SELECT INTO creates a table and cannot be scoped to table privileges")
	}
	if len(s.GetLockingClause()) > 0 {
		refuse(lockingRefusal)
	}
	if op := s.GetOp(); op != pg_query.SetOperation_SETOP_NONE && op != pg_query.SetOperation_SET_OPERATION_UNDEFINED {
		w.selectStmt(s.GetLarg(), sc)
		w.selectStmt(s.GetRarg(), sc)
		// ORDER BY and LIMIT of a set operation name its output columns.
		out := &pgScope{parent: sc}
		w.exprs(s.GetSortClause(), out)
		w.expr(s.GetLimitOffset(), out)
		w.expr(s.GetLimitCount(), out)
		return
	}
	cur := &pgScope{parent: sc}
	for _, f := range s.GetFromClause() {
		w.fromItem(f, cur)
	}
	for _, row := range s.GetValuesLists() {
		w.expr(row, cur)
	}
	w.exprs(s.GetDistinctClause(), cur)
	w.exprs(s.GetTargetList(), cur)
	w.expr(s.GetWhereClause(), cur)
	w.exprs(s.GetGroupClause(), cur)
	w.expr(s.GetHavingClause(), cur)
	for _, wd := range s.GetWindowClause() {
		w.windowDef(wd.GetWindowDef(), cur)
	}
	w.exprs(s.GetSortClause(), cur)
	w.expr(s.GetLimitOffset(), cur)
	w.expr(s.GetLimitCount(), cur)
}

// subquery scopes a query nested in an expression or FROM item.
func (w *pgWalker) subquery(n *pg_query.Node, parent *pgScope) {
	s := n.GetSelectStmt()
	if s == nil {
		refuse("subquery of kind %s is not supported", pgNodeKind(n))
	}
	w.selectStmt(s, parent)
}

// fromItem scopes one FROM (or USING) item and adds it to cur.
func (w *pgWalker) fromItem(n *pg_query.Node, cur *pgScope) {
	w.enter()
	defer w.leave()
	switch x := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		rv := x.RangeVar
		name := rv.GetRelname()
		if a := aliasName(rv.GetAlias()); a != "" {
			name = a
		}
		if rv.GetSchemaname() == "" && rv.GetCatalogname() == "" && cur.isCTE(rv.GetRelname()) {
			cur.rels = append(cur.rels, &pgRel{name: name})
			return
		}
		schema, table := w.table(rv)
		w.privs.add(actionSelect, schema, table, nil)
		cur.rels = append(cur.rels, &pgRel{name: name, schema: schema, table: table, bare: rv.GetAlias() == nil})
	case *pg_query.Node_JoinExpr:
		j := x.JoinExpr
		w.fromItem(j.GetLarg(), cur)
		w.fromItem(j.GetRarg(), cur)
		w.expr(j.GetQuals(), cur)
		if a := aliasName(j.GetAlias()); a != "" {
			cur.rels = append(cur.rels, &pgRel{name: a})
		}
		if a := aliasName(j.GetJoinUsingAlias()); a != "" {
			cur.rels = append(cur.rels, &pgRel{name: a})
		}
	case *pg_query.Node_RangeSubselect:
		// A subquery in FROM is given the current level as its parent
		// whether or not it is LATERAL: that can only make more of the
		// target's columns count as read, never fewer.
		w.subquery(x.RangeSubselect.GetSubquery(), cur)
		cur.rels = append(cur.rels, &pgRel{name: aliasName(x.RangeSubselect.GetAlias())})
	case *pg_query.Node_RangeFunction:
		rf := x.RangeFunction
		for _, item := range rf.GetFunctions() {
			// Each item is a two-element list: the call and its optional
			// column definition list.
			parts := item.GetList().GetItems()
			if len(parts) == 0 {
				refuse("function in FROM of kind %s is not supported", pgNodeKind(item))
			}
			if parts[0].GetFuncCall() == nil {
				refuse("%s in FROM is not supported", pgNodeKind(parts[0]))
			}
			w.expr(parts[0], cur)
			if len(parts) > 1 {
				for _, cd := range parts[1].GetList().GetItems() {
					w.columnDef(cd)
				}
			}
		}
		for _, cd := range rf.GetColdeflist() {
			w.columnDef(cd)
		}
		cur.rels = append(cur.rels, &pgRel{name: aliasName(rf.GetAlias())})
	case *pg_query.Node_RangeTableSample:
		refuse("TABLESAMPLE is not supported")
	default:
		refuse("FROM item of kind %s is not supported", pgNodeKind(n))
	}
}

// columnDef checks the type of a column definition list entry
// (FROM f() AS x(a int)).
func (w *pgWalker) columnDef(n *pg_query.Node) {
	cd := n.GetColumnDef()
	if cd == nil {
		refuse("column definition of kind %s is not supported", pgNodeKind(n))
	}
	if cd.GetRawDefault() != nil || cd.GetCookedDefault() != nil || len(cd.GetConstraints()) > 0 {
		refuse("column definition with a default or constraint is not supported")
	}
	w.typeName(cd.GetTypeName())
}

func (sc *pgScope) isCTE(name string) bool {
	for s := sc; s != nil; s = s.parent {
		if s.ctes[name] {
			return true
		}
	}
	return false
}

func (w *pgWalker) targetRel(rv *pg_query.RangeVar) *pgRel {
	schema, table := w.table(rv)
	name := rv.GetRelname()
	if a := aliasName(rv.GetAlias()); a != "" {
		name = a
	}
	return &pgRel{name: name, schema: schema, table: table, bare: rv.GetAlias() == nil, target: true}
}

// readTarget records that a statement reads its target's columns, which
// PostgreSQL checks as SELECT privilege.
func (w *pgWalker) readTarget(r *pgRel) {
	w.privs.add(actionSelect, r.schema, r.table, nil)
}

func (w *pgWalker) insertStmt(s *pg_query.InsertStmt, parent *pgScope) {
	w.enter()
	defer w.leave()
	sc := w.withClause(s.GetWithClause(), parent)
	target := w.targetRel(s.GetRelation())
	var cols []string
	for _, c := range s.GetCols() {
		rt := c.GetResTarget()
		if rt == nil || rt.GetName() == "" {
			refuse("INSERT column of kind %s is not supported", pgNodeKind(c))
		}
		cols = append(cols, rt.GetName())
		// Assigning to an array element or a field of a composite column
		// still writes the column; its subscripts are expressions.
		w.indirection(rt.GetIndirection(), sc)
	}
	w.privs.add(actionInsert, target.schema, target.table, cols)
	// The rows come from VALUES or a query in which the target is not
	// visible, so they read only what they name.
	if q := s.GetSelectStmt(); q != nil {
		w.subquery(q, sc)
	}
	withTarget := &pgScope{parent: sc, rels: []*pgRel{target}}
	if oc := s.GetOnConflictClause(); oc != nil {
		if inf := oc.GetInfer(); inf != nil {
			// Inferring the arbiter index (by columns or ON CONSTRAINT)
			// reads its columns, which PostgreSQL checks as SELECT
			// privilege.
			w.readTarget(target)
			for _, e := range inf.GetIndexElems() {
				ie := e.GetIndexElem()
				if ie == nil {
					refuse("ON CONFLICT target of kind %s is not supported", pgNodeKind(e))
				}
				w.expr(ie.GetExpr(), withTarget)
			}
			w.expr(inf.GetWhereClause(), withTarget)
		}
		if oc.GetAction() == pg_query.OnConflictAction_ONCONFLICT_UPDATE {
			// EXCLUDED is the row proposed for insertion, but PostgreSQL
			// checks reading its columns as SELECT on the target's columns.
			excluded := &pgRel{name: "excluded", schema: target.schema, table: target.table, target: true}
			upd := &pgScope{parent: sc, rels: []*pgRel{target, excluded}}
			w.privs.add(actionUpdate, target.schema, target.table, w.setList(oc.GetTargetList(), upd))
			w.expr(oc.GetWhereClause(), upd)
		}
	}
	w.exprs(s.GetReturningList(), withTarget)
}

// setList scopes the SET list of UPDATE or ON CONFLICT DO UPDATE and
// returns the columns it assigns.
func (w *pgWalker) setList(list []*pg_query.Node, sc *pgScope) []string {
	var cols []string
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil || rt.GetName() == "" {
			refuse("SET item of kind %s is not supported", pgNodeKind(n))
		}
		cols = append(cols, rt.GetName())
		// SET a[1] = ... or SET a.f = ... writes the column; PostgreSQL
		// does not count the rest of the old value as read.
		w.indirection(rt.GetIndirection(), sc)
		w.expr(rt.GetVal(), sc)
	}
	if len(cols) == 0 {
		refuse("SET list is empty")
	}
	return cols
}

func (w *pgWalker) updateStmt(s *pg_query.UpdateStmt, parent *pgScope) {
	w.enter()
	defer w.leave()
	sc := w.withClause(s.GetWithClause(), parent)
	target := w.targetRel(s.GetRelation())
	cur := &pgScope{parent: sc, rels: []*pgRel{target}}
	for _, f := range s.GetFromClause() {
		w.fromItem(f, cur)
	}
	w.privs.add(actionUpdate, target.schema, target.table, w.setList(s.GetTargetList(), cur))
	w.where(s.GetWhereClause(), cur)
	w.exprs(s.GetReturningList(), cur)
}

func (w *pgWalker) deleteStmt(s *pg_query.DeleteStmt, parent *pgScope) {
	w.enter()
	defer w.leave()
	sc := w.withClause(s.GetWithClause(), parent)
	target := w.targetRel(s.GetRelation())
	cur := &pgScope{parent: sc, rels: []*pgRel{target}}
	for _, f := range s.GetUsingClause() {
		w.fromItem(f, cur)
	}
	w.privs.add(actionDelete, target.schema, target.table, nil)
	w.where(s.GetWhereClause(), cur)
	w.exprs(s.GetReturningList(), cur)
}

func (w *pgWalker) where(n *pg_query.Node, sc *pgScope) {
	if n.GetCurrentOfExpr() != nil {
		refuse("WHERE CURRENT OF needs a cursor, which cannot be declared in a scoped query")
	}
	w.expr(n, sc)
}

// columnRef records what a column reference may read. A qualifier that
// names a FROM item reads that item; an unqualified name (or a qualifier
// that names no FROM item, which PostgreSQL reads as a composite field)
// may belong to any table in scope, so it counts as a read of every
// target in scope: without the catalogue the scoper cannot tell, and
// granting too little only makes the query fail.
func (w *pgWalker) columnRef(c *pg_query.ColumnRef, sc *pgScope) {
	var names []string
	star := false
	for i, f := range c.GetFields() {
		switch {
		case f.GetString_() != nil:
			names = append(names, f.GetString_().GetSval())
		case f.GetAStar() != nil && i == len(c.GetFields())-1:
			star = true
		default:
			refuse("column reference of kind %s is not supported", pgNodeKind(f))
		}
	}
	qual := names
	if !star {
		if len(names) == 0 {
			refuse("empty column reference")
		}
		qual = names[:len(names)-1]
	}
	if len(qual) == 0 {
		if star {
			// SELECT * expands to the FROM items of its own level only.
			for _, r := range sc.rels {
				if r.target {
					w.readTarget(r)
				}
			}
			return
		}
		w.readAllTargets(sc)
		return
	}
	if r := sc.lookup(qual); r != nil {
		if r.target {
			w.readTarget(r)
		}
		return
	}
	w.readAllTargets(sc)
}

func (w *pgWalker) readAllTargets(sc *pgScope) {
	for s := sc; s != nil; s = s.parent {
		for _, r := range s.rels {
			if r.target {
				w.readTarget(r)
			}
		}
	}
}

// lookup finds the FROM item a qualifier names, innermost level first.
func (sc *pgScope) lookup(qual []string) *pgRel {
	if len(qual) == 3 {
		// database.schema.table: PostgreSQL accepts only the current
		// database, which the scoper cannot check, so it matches on the
		// rest.
		qual = qual[1:]
	}
	for s := sc; s != nil; s = s.parent {
		for _, r := range s.rels {
			switch len(qual) {
			case 1:
				if r.name == qual[0] {
					return r
				}
			case 2:
				if r.bare && r.table != "" && r.schema == qual[0] && r.table == qual[1] {
					return r
				}
			}
		}
	}
	return nil
}

func (w *pgWalker) exprs(list []*pg_query.Node, sc *pgScope) {
	for _, n := range list {
		w.expr(n, sc)
	}
}

func (w *pgWalker) indirection(list []*pg_query.Node, sc *pgScope) {
	for _, ind := range list {
		switch x := ind.GetNode().(type) {
		case *pg_query.Node_AIndices:
			w.expr(x.AIndices.GetLidx(), sc)
			w.expr(x.AIndices.GetUidx(), sc)
		case *pg_query.Node_String_, *pg_query.Node_AStar:
		default:
			refuse("subscript of kind %s is not supported", pgNodeKind(ind))
		}
	}
}

func (w *pgWalker) windowDef(wd *pg_query.WindowDef, sc *pgScope) {
	if wd == nil {
		return
	}
	w.exprs(wd.GetPartitionClause(), sc)
	w.exprs(wd.GetOrderClause(), sc)
	w.expr(wd.GetStartOffset(), sc)
	w.expr(wd.GetEndOffset(), sc)
}

func pgNames(list []*pg_query.Node) []string {
	out := make([]string, 0, len(list))
	for _, n := range list {
		s := n.GetString_()
		if s == nil {
			refuse("name of kind %s is not supported", pgNodeKind(n))
		}
		out = append(out, s.GetSval())
	}
	return out
}

func (w *pgWalker) function(names []string) {
	fn := strings.Join(names, ".")
	switch {
	case len(names) == 1 && pgFunctions[names[0]]:
		return
	case len(names) == 2 && names[0] == "pg_catalog" && pgFunctions[names[1]]:
		return
	}
	refuse("function %s is not known to be free of side effects", quoteName(fn))
}

func (w *pgWalker) operator(names []string) {
	if len(names) == 0 {
		return
	}
	op := names[len(names)-1]
	if len(names) > 2 || (len(names) == 2 && names[0] != "pg_catalog") || !pgOperators[op] {
		refuse("operator %s is not known to be free of side effects", quoteName(strings.Join(names, ".")))
	}
}

func (w *pgWalker) typeName(t *pg_query.TypeName) {
	if t == nil {
		refuse("missing type name")
	}
	if t.GetPctType() {
		refuse("%%TYPE is not supported")
	}
	names := pgNames(t.GetNames())
	switch {
	case len(names) == 1 && pgTypes[names[0]]:
	case len(names) == 2 && names[0] == "pg_catalog":
	default:
		refuse("type %s is not a built-in type known to be safe to cast to", quoteName(strings.Join(names, ".")))
	}
}

// expr scopes an expression: it records the tables its subqueries read
// and the targets its column references may read, and refuses anything
// that is not known to be free of side effects.
func (w *pgWalker) expr(n *pg_query.Node, sc *pgScope) {
	if n == nil || n.GetNode() == nil {
		return
	}
	w.enter()
	defer w.leave()
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		w.columnRef(x.ColumnRef, sc)
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef, *pg_query.Node_SqlvalueFunction,
		*pg_query.Node_SetToDefault, *pg_query.Node_Integer, *pg_query.Node_Float,
		*pg_query.Node_String_, *pg_query.Node_Boolean, *pg_query.Node_BitString:
	case *pg_query.Node_ResTarget:
		w.indirection(x.ResTarget.GetIndirection(), sc)
		w.expr(x.ResTarget.GetVal(), sc)
	case *pg_query.Node_AExpr:
		e := x.AExpr
		switch e.GetKind() {
		case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
			pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
			// The name is the keyword; the comparison operators are
			// built in.
		default:
			w.operator(pgNames(e.GetName()))
		}
		w.expr(e.GetLexpr(), sc)
		w.expr(e.GetRexpr(), sc)
	case *pg_query.Node_BoolExpr:
		w.exprs(x.BoolExpr.GetArgs(), sc)
	case *pg_query.Node_FuncCall:
		f := x.FuncCall
		w.function(pgNames(f.GetFuncname()))
		w.exprs(f.GetArgs(), sc)
		w.exprs(f.GetAggOrder(), sc)
		w.expr(f.GetAggFilter(), sc)
		w.windowDef(f.GetOver(), sc)
	case *pg_query.Node_NamedArgExpr:
		w.expr(x.NamedArgExpr.GetArg(), sc)
	case *pg_query.Node_TypeCast:
		w.typeName(x.TypeCast.GetTypeName())
		w.expr(x.TypeCast.GetArg(), sc)
	case *pg_query.Node_SubLink:
		sl := x.SubLink
		w.operator(pgNames(sl.GetOperName()))
		w.expr(sl.GetTestexpr(), sc)
		w.subquery(sl.GetSubselect(), sc)
	case *pg_query.Node_CaseExpr:
		w.expr(x.CaseExpr.GetArg(), sc)
		w.exprs(x.CaseExpr.GetArgs(), sc)
		w.expr(x.CaseExpr.GetDefresult(), sc)
	case *pg_query.Node_CaseWhen:
		w.expr(x.CaseWhen.GetExpr(), sc)
		w.expr(x.CaseWhen.GetResult(), sc)
	case *pg_query.Node_CoalesceExpr:
		w.exprs(x.CoalesceExpr.GetArgs(), sc)
	case *pg_query.Node_MinMaxExpr:
		w.exprs(x.MinMaxExpr.GetArgs(), sc)
	case *pg_query.Node_NullTest:
		w.expr(x.NullTest.GetArg(), sc)
	case *pg_query.Node_BooleanTest:
		w.expr(x.BooleanTest.GetArg(), sc)
	case *pg_query.Node_AArrayExpr:
		w.exprs(x.AArrayExpr.GetElements(), sc)
	case *pg_query.Node_AIndirection:
		w.expr(x.AIndirection.GetArg(), sc)
		w.indirection(x.AIndirection.GetIndirection(), sc)
	case *pg_query.Node_RowExpr:
		w.exprs(x.RowExpr.GetArgs(), sc)
	case *pg_query.Node_CollateClause:
		w.expr(x.CollateClause.GetArg(), sc)
	case *pg_query.Node_GroupingFunc:
		w.exprs(x.GroupingFunc.GetArgs(), sc)
	case *pg_query.Node_GroupingSet:
		w.exprs(x.GroupingSet.GetContent(), sc)
	case *pg_query.Node_MultiAssignRef:
		w.expr(x.MultiAssignRef.GetSource(), sc)
	case *pg_query.Node_SortBy:
		w.operator(pgNames(x.SortBy.GetUseOp()))
		w.expr(x.SortBy.GetNode(), sc)
	case *pg_query.Node_List:
		w.exprs(x.List.GetItems(), sc)
	case *pg_query.Node_CurrentOfExpr:
		refuse("WHERE CURRENT OF needs a cursor, which cannot be declared in a scoped query")
	default:
		refuse("%s", fmt.Sprintf("expression of kind %s is not supported", pgNodeKind(n)))
	}
}
