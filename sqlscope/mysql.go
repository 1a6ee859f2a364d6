package sqlscope

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	// The parser needs a driver for literal values; test_driver is the
	// parser's own minimal one and pulls in no TiDB server code.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/jitaccess/jit"
)

// MySQL parses query with a MySQL grammar (TiDB's parser) and returns the
// table privileges it needs, sorted and merged. Unqualified table names
// resolve to defaultDatabase. A query that cannot be scoped exactly is
// refused with a *provider.ScopeError naming the statement and the
// reason; MySQL never returns broader privileges instead. It is a pure
// function of its arguments and safe for concurrent use.
func MySQL(query, defaultDatabase string) ([]jit.Privilege, error) {
	if err := checkInput(query); err != nil {
		return nil, err
	}
	if err := checkMySQLComments(query); err != nil {
		return nil, err
	}
	stmts, err := parseMySQL(query)
	if err != nil {
		return nil, err
	}
	if len(stmts) == 0 {
		return nil, scopeErr("query is empty")
	}
	set := newPrivSet()
	for i, st := range stmts {
		w := &myWalker{db: defaultDatabase, privs: set}
		if err := w.run(st); err != nil {
			return nil, scopeErr("statement %d: %s", i+1, err.Error())
		}
	}
	out := set.list()
	if len(out) == 0 {
		return nil, scopeErr("query uses no table, so there is no privilege to grant")
	}
	return out, nil
}

// parseMySQL parses query with a parser of its own (parsers are not safe
// for concurrent use).
func parseMySQL(query string) (stmts []ast.StmtNode, err error) {
	defer func() {
		// The parser is large and not written for hostile input; a panic in
		// it is a refusal, not a crash of the server that scopes.
		if r := recover(); r != nil {
			stmts, err = nil, scopeErr("query could not be parsed")
		}
	}()
	stmts, _, perr := parser.New().ParseSQL(query)
	if perr != nil {
		return nil, scopeErr("%s", mysqlParseMessage(perr))
	}
	return stmts, nil
}

// checkMySQLComments refuses comments the server may execute. MySQL runs
// the text of /*! ... */ (and MariaDB of /*M! ... */) as SQL, with
// version gates a parser cannot evaluate for the target, and /*+ ... */
// hints can set session variables (SET_VAR). The check is textual, so it
// also refuses these sequences inside string literals: a refusal is
// cheap, a parser that disagrees with the server is not.
func checkMySQLComments(q string) error {
	lower := strings.ToLower(q)
	for _, p := range []string{"/*!", "/*m!", "/*t!"} {
		if strings.Contains(lower, p) {
			return scopeErr("executable comments (/*! ... */) are not allowed")
		}
	}
	if strings.Contains(q, "/*+") {
		return scopeErr("optimizer hints (/*+ ... */) are not allowed")
	}
	// A quoted name makes the server call a stored function of that name
	// where the unquoted name would be a built-in parsed by its grammar
	// (`repeat`(x) is not REPEAT(x)), while the parser here sees the same
	// call either way. Quoting an allowed function's name is refused.
	for _, m := range mysqlQuotedCall.FindAllStringSubmatch(q, -1) {
		if mysqlFunctions[strings.ToLower(m[1])] {
			return scopeErr("function name %s must not be quoted", quoteName(m[1]))
		}
	}
	return nil
}

// mysqlQuotedCall matches a backquoted name followed, after any spaces
// and comments, by an opening parenthesis.
var mysqlQuotedCall = regexp.MustCompile("(?s)`([^`]+)`(?:\\s|/\\*.*?\\*/|#[^\\n]*(?:\\n|$)|--\\s[^\\n]*(?:\\n|$))*\\(")

var mysqlNear = regexp.MustCompile(`line (\d+) column (\d+) near "((?s).*)"\s*$`)

// mysqlParseMessage turns the parser's error into a short message
// without the parser's product name.
func mysqlParseMessage(err error) string {
	msg := err.Error()
	if m := mysqlNear.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("syntax error at line %s column %s near %q", m[1], m[2], bounded(m[3], 40))
	}
	if strings.Contains(msg, "syntax") {
		return "syntax error"
	}
	return bounded(msg, maxMessage)
}

type myWalker struct {
	db    string
	privs *privSet
	depth int
}

type myScope struct {
	parent *myScope
	ctes   map[string]bool
	rels   []*myRel
}

// myRel is one FROM item (or UPDATE/DELETE table) as column references
// can name it.
type myRel struct {
	// name is the alias, else the table name.
	name          string
	schema, table string
	// bare is true when the table has no alias, so that db.table.column
	// also names it.
	bare bool
	// target marks a table of an INSERT ... ON DUPLICATE KEY UPDATE,
	// UPDATE or DELETE: it gets SELECT only when its columns are read (or,
	// for UPDATE/DELETE, when it is only read).
	target bool
	// written is set for the targets that are updated or deleted from.
	written bool
}

func (w *myWalker) run(n ast.StmtNode) (err error) {
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

func (w *myWalker) enter() {
	w.depth++
	if w.depth > maxDepth {
		refuse("query is nested too deeply")
	}
}

func (w *myWalker) leave() { w.depth-- }

var myStmtNames = map[string]string{
	"LoadDataStmt":            "LOAD DATA",
	"ImportIntoStmt":          "IMPORT INTO",
	"LockTablesStmt":          "LOCK TABLES",
	"UnlockTablesStmt":        "UNLOCK TABLES",
	"SetStmt":                 "SET",
	"ShowStmt":                "SHOW",
	"DoStmt":                  "DO",
	"CallStmt":                "CALL",
	"PrepareStmt":             "PREPARE",
	"ExecuteStmt":             "EXECUTE",
	"DeallocateStmt":          "DEALLOCATE",
	"UseStmt":                 "USE",
	"TruncateTableStmt":       "TRUNCATE",
	"NonTransactionalDMLStmt": "BATCH",
}

func myStmtName(n ast.Node) string {
	switch x := n.(type) {
	case *ast.GrantStmt, *ast.GrantRoleStmt, *ast.GrantProxyStmt:
		return "GRANT"
	case *ast.RevokeStmt, *ast.RevokeRoleStmt:
		return "REVOKE"
	case *ast.ExplainStmt:
		if _, ok := x.Stmt.(*ast.ShowStmt); ok {
			return "DESCRIBE"
		}
		return "EXPLAIN"
	}
	t := reflect.TypeOf(n)
	if t == nil {
		return "an empty statement"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := myStmtNames[t.Name()]; ok {
		return s
	}
	return stmtName(t.Name())
}

func (w *myWalker) stmt(n ast.StmtNode) {
	switch x := n.(type) {
	case *ast.SelectStmt:
		w.selectStmt(x, nil)
	case *ast.SetOprStmt:
		w.setOpr(x, nil)
	case *ast.InsertStmt:
		w.insertStmt(x)
	case *ast.UpdateStmt:
		w.updateStmt(x)
	case *ast.DeleteStmt:
		w.deleteStmt(x)
	case *ast.ExplainStmt:
		// EXPLAIN needs the privileges of the statement it plans, and
		// EXPLAIN ANALYZE runs it with the same privileges: both are
		// scoped as the inner statement.
		if x.PlanDigest != "" || x.SQLDigest != "" || x.Explore {
			refuse("EXPLAIN of a plan digest cannot be scoped to table privileges")
		}
		switch x.Stmt.(type) {
		case *ast.SelectStmt, *ast.SetOprStmt, *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
			w.stmt(x.Stmt)
		default:
			refuse("%s cannot be scoped to table privileges", myStmtName(x))
		}
	case *ast.BeginStmt:
		if x.AsOf != nil || x.CausalConsistencyOnly || x.Mode != "" {
			refuse("this form of START TRANSACTION is not supported")
		}
	case *ast.CommitStmt, *ast.RollbackStmt, *ast.SavepointStmt, *ast.ReleaseSavepointStmt:
		// Transaction control needs no privilege.
	default:
		refuse("%s cannot be scoped to table privileges", myStmtName(n))
	}
}

const mysqlSystemRefusal = "table %s.%s is in a system database, not the target's data"

func mysqlSystemDB(db string) bool {
	switch strings.ToLower(db) {
	case "mysql", "information_schema", "performance_schema", "sys":
		return true
	}
	return false
}

// table resolves a table name to (database, table), refusing names
// outside the target's data.
func (w *myWalker) table(tn *ast.TableName) (string, string) {
	if tn.AsOf != nil {
		refuse("AS OF TIMESTAMP is not supported")
	}
	if tn.TableSample != nil {
		refuse("TABLESAMPLE is not supported")
	}
	db, table := tn.Schema.O, tn.Name.O
	if db == "" {
		if w.db == "" {
			refuse("table %s has no database and no default database is configured", quoteName(table))
		}
		db = w.db
	}
	if mysqlSystemDB(db) {
		refuse(mysqlSystemRefusal, quoteName(db), quoteName(table))
	}
	return db, table
}

func (sc *myScope) isCTE(name string) bool {
	for s := sc; s != nil; s = s.parent {
		for c := range s.ctes {
			if strings.EqualFold(c, name) {
				return true
			}
		}
	}
	return false
}

func (w *myWalker) withClause(wc *ast.WithClause, parent *myScope) *myScope {
	if wc == nil {
		return parent
	}
	sc := &myScope{parent: parent, ctes: map[string]bool{}}
	if wc.IsRecursive {
		for _, c := range wc.CTEs {
			sc.ctes[c.Name.O] = true
		}
	}
	for _, c := range wc.CTEs {
		if c.Query == nil {
			refuse("WITH %s has no query", quoteName(c.Name.O))
		}
		w.resultSet(c.Query.Query, sc)
		sc.ctes[c.Name.O] = true
	}
	return sc
}

// resultSet scopes a query nested in a CTE, FROM item or expression.
func (w *myWalker) resultSet(n ast.ResultSetNode, parent *myScope) {
	switch x := n.(type) {
	case *ast.SelectStmt:
		w.selectStmt(x, parent)
	case *ast.SetOprStmt:
		w.setOpr(x, parent)
	default:
		refuse("subquery of kind %T is not supported", n)
	}
}

const myLockingRefusal = "SELECT ... FOR UPDATE/LOCK IN SHARE MODE needs more than SELECT privilege; run the query without the locking clause"

func (w *myWalker) selectStmt(s *ast.SelectStmt, parent *myScope) {
	w.enter()
	defer w.leave()
	sc := w.withClause(s.With, parent)
	if s.SelectIntoOpt != nil {
		refuse("SELECT ... INTO (OUTFILE, DUMPFILE or variables) cannot be scoped to table privileges")
	}
	if s.LockInfo != nil && s.LockInfo.LockType != ast.SelectLockNone {
		refuse(myLockingRefusal)
	}
	if len(s.TableHints) > 0 || (s.SelectStmtOpts != nil && len(s.SelectStmtOpts.TableHints) > 0) {
		refuse("optimizer hints (/*+ ... */) are not allowed")
	}
	cur := &myScope{parent: sc}
	if s.From != nil {
		w.join(s.From.TableRefs, cur, false)
	}
	for _, row := range s.Lists {
		w.expr(row, cur)
	}
	if s.Fields != nil {
		for _, f := range s.Fields.Fields {
			if f.WildCard != nil {
				w.wildcard(f.WildCard, cur)
				continue
			}
			w.expr(f.Expr, cur)
		}
	}
	w.expr(s.Where, cur)
	if s.GroupBy != nil {
		w.expr(s.GroupBy, cur)
	}
	if s.Having != nil {
		w.expr(s.Having.Expr, cur)
	}
	for i := range s.WindowSpecs {
		w.expr(&s.WindowSpecs[i], cur)
	}
	w.orderLimit(s.OrderBy, s.Limit, cur)
}

func (w *myWalker) orderLimit(ob *ast.OrderByClause, l *ast.Limit, sc *myScope) {
	if ob != nil {
		w.expr(ob, sc)
	}
	if l != nil {
		w.expr(l.Count, sc)
		w.expr(l.Offset, sc)
	}
}

func (w *myWalker) setOpr(s *ast.SetOprStmt, parent *myScope) {
	w.enter()
	defer w.leave()
	sc := w.withClause(s.With, parent)
	if s.SelectList == nil {
		refuse("empty set operation")
	}
	w.setOprList(s.SelectList, sc)
	// ORDER BY and LIMIT of a set operation name its output columns.
	w.orderLimit(s.OrderBy, s.Limit, &myScope{parent: sc})
}

func (w *myWalker) setOprList(l *ast.SetOprSelectList, parent *myScope) {
	w.enter()
	defer w.leave()
	sc := w.withClause(l.With, parent)
	for _, sel := range l.Selects {
		switch x := sel.(type) {
		case *ast.SelectStmt:
			w.selectStmt(x, sc)
		case *ast.SetOprSelectList:
			w.setOprList(x, sc)
		case *ast.SetOprStmt:
			w.setOpr(x, sc)
		default:
			refuse("set operation member of kind %T is not supported", sel)
		}
	}
	w.orderLimit(l.OrderBy, l.Limit, &myScope{parent: sc})
}

// join scopes a FROM clause and adds its items to cur. With targets set
// (the tables of an UPDATE or DELETE) tables are added as targets and get
// their privileges once the statement says which are written.
func (w *myWalker) join(n ast.ResultSetNode, cur *myScope, targets bool) {
	if n == nil {
		return
	}
	w.enter()
	defer w.leave()
	switch x := n.(type) {
	case *ast.Join:
		w.join(x.Left, cur, targets)
		w.join(x.Right, cur, targets)
		if x.On != nil {
			w.expr(x.On.Expr, cur)
		}
		for _, c := range x.Using {
			w.column(c, cur)
		}
		if x.NaturalJoin {
			// NATURAL JOIN compares every column the two sides share.
			w.readAll(cur)
		}
	case *ast.TableSource:
		switch src := x.Source.(type) {
		case *ast.TableName:
			name := src.Name.O
			if x.AsName.O != "" {
				name = x.AsName.O
			}
			if src.Schema.O == "" && cur.isCTE(src.Name.O) {
				cur.rels = append(cur.rels, &myRel{name: name})
				return
			}
			db, table := w.table(src)
			r := &myRel{name: name, schema: db, table: table, bare: x.AsName.O == "", target: targets}
			if !targets {
				w.privs.add(actionSelect, db, table, nil)
			}
			cur.rels = append(cur.rels, r)
		case *ast.SelectStmt, *ast.SetOprStmt:
			// A derived table is given the current level as parent whether
			// or not it is LATERAL: that can only count more of a target's
			// columns as read, never fewer.
			w.resultSet(src, cur)
			cur.rels = append(cur.rels, &myRel{name: x.AsName.O})
		case *ast.Join:
			w.join(src, cur, targets)
		default:
			refuse("FROM item of kind %T is not supported", x.Source)
		}
	default:
		refuse("FROM item of kind %T is not supported", n)
	}
}

func (w *myWalker) readTarget(r *myRel) {
	w.privs.add(actionSelect, r.schema, r.table, nil)
}

// readAll counts a read of every target in scope, for a column the
// scoper cannot attribute without the catalogue.
func (w *myWalker) readAll(sc *myScope) {
	for s := sc; s != nil; s = s.parent {
		for _, r := range s.rels {
			if r.target {
				w.readTarget(r)
			}
		}
	}
}

// lookup finds the FROM item db.table or table names, innermost level
// first. Aliases and table names compare case-insensitively: matching
// more can only count more as read.
func (sc *myScope) lookup(db, table string) *myRel {
	for s := sc; s != nil; s = s.parent {
		for _, r := range s.rels {
			if db != "" {
				if r.bare && r.table != "" && strings.EqualFold(r.schema, db) && strings.EqualFold(r.table, table) {
					return r
				}
				continue
			}
			if strings.EqualFold(r.name, table) {
				return r
			}
		}
	}
	return nil
}

// column records what a column reference may read: the FROM item its
// qualifier names, or, unqualified or unresolved, every target in scope
// (see pgWalker.columnRef).
func (w *myWalker) column(c *ast.ColumnName, sc *myScope) {
	if c.Table.O == "" {
		w.readAll(sc)
		return
	}
	if r := sc.lookup(c.Schema.O, c.Table.O); r != nil {
		if r.target {
			w.readTarget(r)
		}
		return
	}
	w.readAll(sc)
}

func (w *myWalker) wildcard(wc *ast.WildCardField, sc *myScope) {
	if wc.Table.O == "" {
		// * expands to the FROM items of its own level only.
		for _, r := range sc.rels {
			if r.target {
				w.readTarget(r)
			}
		}
		return
	}
	if r := sc.lookup(wc.Schema.O, wc.Table.O); r != nil && r.target {
		w.readTarget(r)
	}
}

func (w *myWalker) insertStmt(s *ast.InsertStmt) {
	if len(s.TableHints) > 0 {
		refuse("optimizer hints (/*+ ... */) are not allowed")
	}
	if s.Table == nil || s.Table.TableRefs == nil {
		refuse("INSERT has no table")
	}
	ts, ok := s.Table.TableRefs.Left.(*ast.TableSource)
	if !ok || s.Table.TableRefs.Right != nil {
		refuse("INSERT target of kind %T is not supported", s.Table.TableRefs.Left)
	}
	tn, ok := ts.Source.(*ast.TableName)
	if !ok {
		refuse("INSERT target of kind %T is not supported", ts.Source)
	}
	db, table := w.table(tn)
	var cols []string
	for _, c := range s.Columns {
		cols = append(cols, c.Name.O)
	}
	w.privs.add(actionInsert, db, table, cols)
	if s.IsReplace {
		// REPLACE deletes the rows it conflicts with.
		w.privs.add(actionDelete, db, table, nil)
	}
	// Values may name columns of the row being inserted; that is not a
	// read of the table, so the target is not in their scope.
	rows := &myScope{}
	for _, row := range s.Lists {
		for _, e := range row {
			w.expr(e, rows)
		}
	}
	if s.Select != nil {
		w.resultSet(s.Select, nil)
	}
	if len(s.OnDuplicate) > 0 {
		// The server checks ON DUPLICATE KEY UPDATE as an update of the
		// inserted columns as well as the SET columns (all columns when
		// none are named), and as a read of the SET columns even when
		// they are only assigned: UPDATE on both and SELECT on the table.
		target := &myRel{name: tn.Name.O, schema: db, table: table, bare: true, target: true}
		sc := &myScope{rels: []*myRel{target}}
		upd := append([]string(nil), cols...)
		for _, a := range s.OnDuplicate {
			if a.Column.Table.O != "" && sc.lookup(a.Column.Schema.O, a.Column.Table.O) != target {
				refuse("ON DUPLICATE KEY UPDATE sets a column of another table")
			}
			upd = append(upd, a.Column.Name.O)
			w.expr(a.Expr, sc)
		}
		if len(cols) == 0 {
			upd = nil
		}
		w.privs.add(actionUpdate, db, table, upd)
		w.readTarget(target)
	}
}

func (w *myWalker) updateStmt(s *ast.UpdateStmt) {
	w.enter()
	defer w.leave()
	if len(s.TableHints) > 0 {
		refuse("optimizer hints (/*+ ... */) are not allowed")
	}
	sc := w.withClause(s.With, nil)
	cur := &myScope{parent: sc}
	if s.TableRefs == nil {
		refuse("UPDATE has no table")
	}
	w.join(s.TableRefs.TableRefs, cur, true)
	updated := map[*myRel][]string{}
	var order []*myRel
	for _, a := range s.List {
		r := w.setTarget(a.Column, cur)
		if _, ok := updated[r]; !ok {
			order = append(order, r)
		}
		updated[r] = append(updated[r], a.Column.Name.O)
		r.written = true
		w.expr(a.Expr, cur)
	}
	if len(s.List) == 0 {
		refuse("SET list is empty")
	}
	for _, r := range order {
		w.privs.add(actionUpdate, r.schema, r.table, updated[r])
	}
	w.expr(s.Where, cur)
	w.orderLimit(s.Order, s.Limit, cur)
	w.readUnwritten(cur)
}

// readUnwritten gives SELECT to the tables of an UPDATE or DELETE that are
// only joined, not written.
func (w *myWalker) readUnwritten(cur *myScope) {
	for _, r := range cur.rels {
		if r.target && !r.written {
			w.readTarget(r)
		}
	}
}

// setTarget finds the table a SET column belongs to. In a multi-table
// UPDATE an unqualified column could belong to any of them, so it is
// refused rather than guessed.
func (w *myWalker) setTarget(c *ast.ColumnName, cur *myScope) *myRel {
	var tables []*myRel
	for _, r := range cur.rels {
		if r.table != "" {
			tables = append(tables, r)
		}
	}
	if c.Table.O == "" {
		if len(cur.rels) == 1 && len(tables) == 1 {
			return tables[0]
		}
		refuse("column %s in SET must be qualified with its table in a multi-table UPDATE", quoteName(c.Name.O))
	}
	for _, r := range cur.rels {
		match := strings.EqualFold(r.name, c.Table.O)
		if c.Schema.O != "" {
			match = r.bare && strings.EqualFold(r.schema, c.Schema.O) && strings.EqualFold(r.table, c.Table.O)
		}
		if match {
			if r.table == "" {
				refuse("SET column %s.%s is not a table's column", quoteName(c.Table.O), quoteName(c.Name.O))
			}
			return r
		}
	}
	refuse("SET column %s.%s names no table of the UPDATE", quoteName(c.Table.O), quoteName(c.Name.O))
	return nil
}

func (w *myWalker) deleteStmt(s *ast.DeleteStmt) {
	w.enter()
	defer w.leave()
	if len(s.TableHints) > 0 {
		refuse("optimizer hints (/*+ ... */) are not allowed")
	}
	sc := w.withClause(s.With, nil)
	cur := &myScope{parent: sc}
	if s.TableRefs == nil {
		refuse("DELETE has no table")
	}
	w.join(s.TableRefs.TableRefs, cur, true)
	if s.IsMultiTable {
		if s.Tables == nil || len(s.Tables.Tables) == 0 {
			refuse("DELETE names no table to delete from")
		}
		for _, tn := range s.Tables.Tables {
			var hit *myRel
			for _, r := range cur.rels {
				if r.table == "" {
					continue
				}
				if tn.Schema.O != "" {
					if r.bare && strings.EqualFold(r.schema, tn.Schema.O) && strings.EqualFold(r.table, tn.Name.O) {
						hit = r
						break
					}
				} else if strings.EqualFold(r.name, tn.Name.O) {
					hit = r
					break
				}
			}
			if hit == nil {
				refuse("table %s in the DELETE list is not in its FROM clause", quoteName(tn.Name.O))
			}
			hit.written = true
			w.privs.add(actionDelete, hit.schema, hit.table, nil)
		}
		// The server checks SELECT on every table of a multi-table DELETE,
		// the ones deleted from included, whether or not it reads their
		// columns.
		for _, r := range cur.rels {
			if r.table != "" {
				w.readTarget(r)
			}
		}
	} else {
		var tables []*myRel
		for _, r := range cur.rels {
			if r.table != "" {
				tables = append(tables, r)
			}
		}
		if len(tables) != 1 || len(cur.rels) != 1 {
			refuse("DELETE from this FROM clause is not supported")
		}
		tables[0].written = true
		w.privs.add(actionDelete, tables[0].schema, tables[0].table, nil)
	}
	w.expr(s.Where, cur)
	w.orderLimit(s.Order, s.Limit, cur)
	w.readUnwritten(cur)
}

func (w *myWalker) expr(n ast.Node, sc *myScope) {
	if n == nil || (reflect.ValueOf(n).Kind() == reflect.Pointer && reflect.ValueOf(n).IsNil()) {
		return
	}
	w.enter()
	defer w.leave()
	n.Accept(&myExprVisitor{w: w, sc: sc})
}

// myExprVisitor walks an expression: it records what column references
// and subqueries read and refuses every node kind not known to be free of
// side effects.
type myExprVisitor struct {
	w  *myWalker
	sc *myScope
}

func (v *myExprVisitor) Enter(n ast.Node) (ast.Node, bool) {
	// Leave is called for every node Enter sees, skipped or not.
	v.w.enter()
	switch x := n.(type) {
	case *ast.ColumnNameExpr:
		v.w.column(x.Name, v.sc)
		return n, true
	case *ast.ColumnName:
		v.w.column(x, v.sc)
		return n, true
	case *ast.SubqueryExpr:
		v.w.resultSet(x.Query, v.sc)
		return n, true
	case *ast.FuncCallExpr:
		if x.Schema.O != "" || !mysqlFunctions[x.FnName.L] {
			name := x.FnName.O
			if x.Schema.O != "" {
				name = x.Schema.O + "." + name
			}
			refuse("function %s is not known to be free of side effects", quoteName(name))
		}
	case *ast.AggregateFuncExpr:
		if !mysqlFunctions[strings.ToLower(x.F)] {
			refuse("function %s is not known to be free of side effects", quoteName(x.F))
		}
	case *ast.WindowFuncExpr:
		if !mysqlFunctions[strings.ToLower(x.Name)] {
			refuse("function %s is not known to be free of side effects", quoteName(x.Name))
		}
	case *ast.ValuesExpr, *ast.DefaultExpr:
		// VALUES(col) is the row being inserted and DEFAULT(col) the
		// column's default: neither reads the table.
		return n, true
	case *ast.VariableExpr:
		refuse("variables (@name, @@name) are not allowed")
	case ast.ValueExpr, *ast.FuncCastExpr, *ast.BinaryOperationExpr, *ast.UnaryOperationExpr,
		*ast.BetweenExpr, *ast.CaseExpr, *ast.WhenClause, *ast.CompareSubqueryExpr,
		*ast.ExistsSubqueryExpr, *ast.PatternInExpr, *ast.IsNullExpr, *ast.IsTruthExpr,
		*ast.PatternLikeOrIlikeExpr, *ast.PatternRegexpExpr, *ast.ParenthesesExpr, *ast.RowExpr,
		*ast.PositionExpr, *ast.MaxValueExpr, *ast.MatchAgainst, *ast.SetCollationExpr,
		*ast.TimeUnitExpr, *ast.TrimDirectionExpr, *ast.GetFormatSelectorExpr, *ast.ByItem,
		*ast.OrderByClause, *ast.GroupByClause, *ast.WindowSpec, *ast.PartitionByClause,
		*ast.FrameClause, *ast.FrameBound:
	default:
		refuse("expression of kind %s is not supported", strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast."))
	}
	return n, false
}

func (v *myExprVisitor) Leave(n ast.Node) (ast.Node, bool) {
	v.w.leave()
	return n, true
}
