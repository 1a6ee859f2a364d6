package sqlscope

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// MaxQueryBytes is the longest query accepted. Queries a person reads and
// approves are short; the cap keeps parsing (and the approver's screen)
// bounded whatever is submitted.
const MaxQueryBytes = 64 << 10

// Table privilege actions, in the order the result lists them for one
// table.
const (
	actionSelect = "SELECT"
	actionInsert = "INSERT"
	actionUpdate = "UPDATE"
	actionDelete = "DELETE"
)

var actionOrder = map[string]int{actionSelect: 0, actionInsert: 1, actionUpdate: 2, actionDelete: 3}

// refusal is how a walker stops: it panics with one and the entry point
// recovers it into a *provider.ScopeError. Panicking keeps the deep
// recursive walkers free of error plumbing; any other panic is re-raised.
type refusal struct{ reason string }

func refuse(format string, args ...any) {
	panic(refusal{reason: fmt.Sprintf(format, args...)})
}

func scopeErr(format string, args ...any) error {
	return &provider.ScopeError{Reason: fmt.Sprintf(format, args...)}
}

// checkInput rejects input no parser should see: empty, too long, not
// UTF-8, or with NUL bytes (the C parser behind the PostgreSQL grammar
// would stop reading at a NUL and scope only the part before it).
func checkInput(query string) error {
	if len(query) > MaxQueryBytes {
		return scopeErr("query is %d bytes long; the limit is %d bytes", len(query), MaxQueryBytes)
	}
	if strings.TrimSpace(query) == "" {
		return scopeErr("query is empty")
	}
	if !utf8.ValidString(query) {
		return scopeErr("query is not valid UTF-8")
	}
	if strings.IndexByte(query, 0) >= 0 {
		return scopeErr("query contains a NUL byte")
	}
	return nil
}

type privKey struct{ action, schema, table string }

// privSet accumulates the privileges of one query, merging the columns of
// each (action, table): a use that needs the whole table wins over column
// lists.
type privSet struct {
	m map[privKey]*privCols
}

type privCols struct {
	whole bool
	cols  map[string]bool
}

func newPrivSet() *privSet { return &privSet{m: map[privKey]*privCols{}} }

// add records action on schema.table. No columns means the whole table.
func (s *privSet) add(action, schema, table string, cols []string) {
	checkIdent("schema", schema)
	checkIdent("table", table)
	for _, c := range cols {
		checkIdent("column", c)
	}
	k := privKey{action, schema, table}
	e := s.m[k]
	if e == nil {
		e = &privCols{cols: map[string]bool{}}
		s.m[k] = e
	}
	if len(cols) == 0 {
		e.whole = true
		return
	}
	for _, c := range cols {
		e.cols[c] = true
	}
}

// list returns the privileges sorted by schema, table, then action in
// the order SELECT, INSERT, UPDATE, DELETE.
func (s *privSet) list() []jit.Privilege {
	out := make([]jit.Privilege, 0, len(s.m))
	for k, e := range s.m {
		p := jit.Privilege{Action: k.action, Schema: k.schema, Table: k.table}
		if !e.whole {
			for c := range e.cols {
				p.Columns = append(p.Columns, c)
			}
			sort.Strings(p.Columns)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return privLess(out[i], out[j]) })
	return out
}

func privLess(a, b jit.Privilege) bool {
	if a.Schema != b.Schema {
		return a.Schema < b.Schema
	}
	if a.Table != b.Table {
		return a.Table < b.Table
	}
	return actionOrder[a.Action] < actionOrder[b.Action]
}

// stmtName turns a parser's Go type name for a statement
// ("CreateTableStmt", "AlterTableAsStmt") into the words a person knows
// ("CREATE TABLE"), for refusals of statements that have no specific
// message.
func stmtName(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	if i := strings.LastIndexByte(goType, '.'); i >= 0 {
		goType = goType[i+1:]
	}
	goType = strings.TrimPrefix(goType, "Node_")
	goType = strings.TrimSuffix(goType, "Stmt")
	var words []string
	start := 0
	for i := 1; i < len(goType); i++ {
		if goType[i] >= 'A' && goType[i] <= 'Z' && goType[i-1] >= 'a' && goType[i-1] <= 'z' {
			words = append(words, goType[start:i])
			start = i
		}
	}
	words = append(words, goType[start:])
	return strings.ToUpper(strings.Join(words, " "))
}

// maxMessage bounds a parser's message quoted in a refusal.
const maxMessage = 200

// quoteName renders an identifier for a refusal message. Names come from
// the requester's own query, so they are shown as written but bounded and
// with control characters replaced.
func quoteName(s string) string { return bounded(s, 64) }

// bounded cuts s to at most n bytes (on a character boundary) and
// replaces control characters, so that text from a query cannot flood or
// break the line a refusal is shown on.
func bounded(s string, n int) string {
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.Map(func(r rune) rune {
		if hiddenRune(r) {
			return '?'
		}
		return r
	}, s)
}

// hiddenRune reports characters that do not show as themselves: control
// and format characters (bidirectional overrides, zero-width joiners),
// private-use and invalid code points, and every space but U+0020.
func hiddenRune(r rune) bool {
	if r == ' ' {
		return false
	}
	return r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zs, unicode.Zl, unicode.Zp)
}

// checkIdent refuses a schema, table or column name that would not read
// as what it is where approvers see it: a table named "orders" followed by
// a zero-width space, or with a right-to-left override, would be shown as
// a different table from the one granted.
func checkIdent(kind, name string) {
	if name == "" {
		refuse("empty %s name", kind)
	}
	if strings.TrimSpace(name) != name {
		refuse("%s name %s has leading or trailing spaces", kind, strconv.QuoteToASCII(bounded(name, 64)))
	}
	for _, r := range name {
		if hiddenRune(r) {
			refuse("%s name %s contains invisible or control characters", kind, strconv.QuoteToASCII(name[:min(len(name), 64)]))
		}
	}
}
