package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/store/postgres"
)

// faultScript is an exec-provider target for the fault tests. It records
// every call in "calls" and keeps one file per granted request, so the
// test sees what the target holds. While "block" exists, a grant writes
// its jitd's pid ("owner") and its own pid ("sleeper"), then sleeps after
// creating the access: the moment between the provider call and the store
// update. While "down" exists, a revoke fails as an unreachable target
// would (and is recorded as "revoke-failed").
const faultScript = `#!/bin/sh
set -e
state="$(dirname "$0")"
body=$(cat)
id=$(printf '%s' "$body" | sed -n 's/.*"request_id": *"\([^"]*\)".*/\1/p')
case "$JIT_ACTION" in
grant)
  echo "grant $id" >> "$state/calls"
  touch "$state/access-$id"
  if [ -e "$state/block" ]; then echo $$ > "$state/sleeper"; echo $PPID > "$state/owner"; sleep 60; fi
  ;;
revoke)
  if [ -e "$state/down" ]; then echo "revoke-failed $id" >> "$state/calls"; echo "target unreachable" >&2; exit 3; fi
  echo "revoke $id" >> "$state/calls"
  rm -f "$state/access-$id"
  ;;
verify)
  if [ -e "$state/access-$id" ]; then echo '{"present":true}'; else echo '{"present":false}'; fi
  ;;
esac
`

// faultTarget is the state folder of one faultScript.
type faultTarget struct{ dir, script string }

func newFaultTarget(t *testing.T) faultTarget {
	t.Helper()
	dir := t.TempDir()
	ft := faultTarget{dir: dir, script: filepath.Join(dir, "target.sh")}
	if err := os.WriteFile(ft.script, []byte(faultScript), 0o700); err != nil {
		t.Fatal(err)
	}
	// A blocked grant's sleeping script outlives a killed jitd; end its
	// whole process group (it leads one: the exec provider sets it up so).
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "sleeper")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	return ft
}

func (ft faultTarget) path(name string) string { return filepath.Join(ft.dir, name) }

func (ft faultTarget) set(t *testing.T, marker string, on bool) {
	t.Helper()
	var err error
	if on {
		err = os.WriteFile(ft.path(marker), nil, 0o600)
	} else {
		err = os.Remove(ft.path(marker))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// count returns how many calls of kind ("grant", "revoke",
// "revoke-failed") the target received for request id.
func (ft faultTarget) count(t *testing.T, kind, id string) int {
	t.Helper()
	b, err := os.ReadFile(ft.path("calls"))
	if os.IsNotExist(err) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), kind+" "+id+"\n")
}

// holds returns the requests the target holds access for.
func (ft faultTarget) holds(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(ft.path("access-*"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range m {
		ids = append(ids, strings.TrimPrefix(filepath.Base(p), "access-"))
	}
	return ids
}

// policy returns a policy with the exec resource "box" on this target,
// auto-approved for alice; server is the server section's body.
func (ft faultTarget) policy(server string) []byte {
	return []byte(`server: {` + server + `}
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
  - {email: carol@example.com, groups: [sre, security]}
resources:
  - name: box
    provider: exec
    settings: {command: [/bin/sh, ` + ft.script + `], timeout: 90s}
    access: [{name: login}]
rules:
  - name: auto
    requesters: {groups: [engineering]}
    resources: [box]
    max_duration: 1h
    auto_approve: true
`)
}

// auditOf returns every audit event of st that f selects, in order.
func auditOf(t *testing.T, st jit.Store, f jit.AuditFilter) []jit.AuditEvent {
	t.Helper()
	var all []jit.AuditEvent
	f.Limit = 1000
	for {
		page, err := st.ListAudit(context.Background(), f)
		if err != nil {
			t.Fatalf("list audit: %v", err)
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			return all
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// countActions counts the events of each action for one request.
func countActions(evs []jit.AuditEvent, requestID string) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		if e.RequestID == requestID {
			n[e.Action]++
		}
	}
	return n
}

// openStore opens the PostgreSQL store of dsn directly, as an auditor
// would, and closes it when the test ends.
func openStore(t *testing.T, dsn string) jit.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// verifyChain checks the one audit chain all replicas wrote.
func verifyChain(t *testing.T, st jit.Store) {
	t.Helper()
	res, err := audit.Verify(context.Background(), st)
	if err != nil || !res.OK {
		t.Fatalf("audit chain: %+v %v", res, err)
	}
}

// eventually polls cond every 50 ms until it holds, failing the test once
// timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// offsetClock is a replica's clock running off from the wall clock.
type offsetClock time.Duration

func (c offsetClock) Now() time.Time { return time.Now().UTC().Add(time.Duration(c)) }
