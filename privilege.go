package jit

import (
	"fmt"
	"strings"
)

// Privilege is one table privilege that a query-scoped request needs,
// derived by parsing the query (never typed in by the requester). The
// approver sees exactly these, and the grant is exactly these.
type Privilege struct {
	// Action is SELECT, INSERT, UPDATE or DELETE.
	Action string `json:"action"`
	// Schema is the PostgreSQL schema, or the MySQL database, of Table.
	Schema string `json:"schema"`
	Table  string `json:"table"`
	// Columns narrows INSERT, UPDATE or SELECT to these columns; empty
	// means the whole table.
	Columns []string `json:"columns,omitempty"`
}

// String renders p the way approvers read it:
// "UPDATE on public.orders (total)".
func (p Privilege) String() string {
	s := fmt.Sprintf("%s on %s.%s", p.Action, p.Schema, p.Table)
	if len(p.Columns) > 0 {
		s += " (" + strings.Join(p.Columns, ", ") + ")"
	}
	return s
}
