package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/internal/daemon"
	"github.com/jitaccess/jit/policy"
)

// jitd runs the command line in-process and returns its output and exit
// code.
func jitd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := rootCmd(&out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		errb.WriteString(err.Error())
		code = 1
	}
	return out.String(), errb.String(), code
}

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, daemon.DemoPolicy, 0o600)
	out, _, code := jitd(t, "policy", "check", good)
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("valid policy: code %d, %q", code, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("resources:\n  - name: app\n    provider: nosuch\n    access: [{name: user}]\nrules:\n  - name: r\n    colour: red\n"), 0o600)
	_, errOut, code := jitd(t, "policy", "check", bad)
	if code == 0 {
		t.Fatal("invalid policy passed the check")
	}
	if !strings.Contains(errOut, "bad.yaml:3:") || !strings.Contains(errOut, "bad.yaml:7:") {
		t.Fatalf("problems without their lines:\n%s", errOut)
	}
}

// seed makes a data folder with a store holding a few audit events.
func seed(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	st, err := daemon.OpenStore(context.Background(), policy.ServerConfig{}, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		ev := jit.AuditEvent{Time: base.Add(time.Duration(i) * time.Hour), Actor: "alice@example.com", Action: jit.ActionSubmit, Source: jit.Source{Kind: "cli"}}
		if err := st.Apply(context.Background(), &jit.Change{Events: []jit.AuditEvent{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func TestTokenCreate(t *testing.T) {
	data := seed(t)
	out, errOut, code := jitd(t, "token", "create", "--user", "dave@example.com", "--name", "laptop", "--data", data)
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errOut)
	}
	plain := strings.TrimSpace(out)
	if !strings.HasPrefix(plain, jit.TokenPrefix) {
		t.Fatalf("token %q", plain)
	}
	st, err := daemon.OpenStore(context.Background(), policy.ServerConfig{}, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok, err := st.TokenByHash(context.Background(), jit.HashToken(plain))
	if err != nil || tok.Email != "dave@example.com" || tok.Name != "laptop" {
		t.Fatalf("stored token: %+v %v", tok, err)
	}
	// Only the hash is stored, and the creation is audited.
	raw, _ := os.ReadFile(filepath.Join(data, "jit.db"))
	if bytes.Contains(raw, []byte(plain)) {
		t.Fatal("the plain token is in the database file")
	}
	evs, _ := st.ListAudit(context.Background(), jit.AuditFilter{Action: jit.ActionTokenCreate})
	if len(evs) != 1 || evs[0].Details["user"] != "dave@example.com" {
		t.Fatalf("token_create events: %+v", evs)
	}

	if _, _, code := jitd(t, "token", "create", "--data", data); code == 0 {
		t.Fatal("token create without --user succeeded")
	}
}

func TestAuditVerifyAndExport(t *testing.T) {
	data := seed(t)
	out, _, code := jitd(t, "audit", "verify", "--data", data)
	if code != 0 || !strings.Contains(out, "OK: 3 events") || !strings.Contains(out, "head: 3:") {
		t.Fatalf("verify clean chain: %d %q", code, out)
	}
	_, head, _ := strings.Cut(out, "head: ")
	head, _, _ = strings.Cut(head, "\n")
	if out, _, code := jitd(t, "audit", "verify", "--data", data, "--anchor", head); code != 0 {
		t.Fatalf("verify against its own head: %d %q", code, out)
	}
	if _, errOut, code := jitd(t, "audit", "verify", "--data", data, "--anchor", "3:nothex"); code == 0 || !strings.Contains(errOut, "SEQ:HASH") {
		t.Fatalf("bad anchor: %d %q", code, errOut)
	}

	out, _, code = jitd(t, "audit", "export", "--data", data, "--since", "2026-01-01T01:00:00Z")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("export since: %d, %d lines:\n%s", code, len(lines), out)
	}
	var ev jit.AuditEvent
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil || ev.Seq != 2 || ev.Hash == "" {
		t.Fatalf("exported line: %+v %v", ev, err)
	}
	if _, errOut, code := jitd(t, "audit", "export", "--data", data, "--since", "yesterday"); code == 0 || !strings.Contains(errOut, "RFC 3339") {
		t.Fatalf("bad --since: %d %q", code, errOut)
	}

	// Delete the middle event behind the store's back.
	db, err := sql.Open("sqlite", filepath.Join(data, "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	out, _, code = jitd(t, "audit", "verify", "--data", data)
	if code != 1 || !strings.Contains(out, "BROKEN at event 2") {
		t.Fatalf("verify after deletion: %d %q", code, out)
	}

	// Deleting the last event leaves an intact, shorter chain; the anchor
	// recorded before shows it.
	data = seed(t)
	out, _, _ = jitd(t, "audit", "verify", "--data", data)
	_, head, _ = strings.Cut(out, "head: ")
	head, _, _ = strings.Cut(head, "\n")
	db2, err := sql.Open("sqlite", filepath.Join(data, "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for _, q := range []string{`DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq = 3`} {
		if _, err := db2.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if out, _, code := jitd(t, "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("a truncated chain without an anchor: %d %q", code, out)
	}
	if out, _, code := jitd(t, "audit", "verify", "--data", data, "--anchor", head); code != 1 || !strings.Contains(out, "missing") {
		t.Fatalf("a truncated chain against the anchor: %d %q", code, out)
	}
}

func TestDevRefusesNonLoopback(t *testing.T) {
	_, errOut, code := jitd(t, "dev", "--addr", "0.0.0.0:0", "--data", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "loopback") {
		t.Fatalf("dev on 0.0.0.0: %d %q", code, errOut)
	}
}

func TestStoreFlagsNeedAnExistingDataFolder(t *testing.T) {
	_, errOut, code := jitd(t, "audit", "verify", "--data", filepath.Join(t.TempDir(), "missing"))
	if code == 0 || !strings.Contains(errOut, "data folder") {
		t.Fatalf("missing data folder: %d %q", code, errOut)
	}
}
