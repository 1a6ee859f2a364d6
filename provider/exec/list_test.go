package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
)

func TestListReportsGrantedAccess(t *testing.T) {
	p, _ := stateProvider(t)
	ctx := context.Background()
	list := func() map[string]provider.ListedGrant {
		t.Helper()
		resp, err := p.List(ctx, provider.ListRequest{Resource: "custom"})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		out := map[string]provider.ListedGrant{}
		for _, g := range resp.Grants {
			out[g.RequestID] = g
		}
		return out
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("empty target lists %v", got)
	}
	for _, id := range []string{"req_a", "req_b"} {
		if _, err := p.Grant(ctx, grantReq(id)); err != nil {
			t.Fatal(err)
		}
	}
	got := list()
	if len(got) != 2 {
		t.Fatalf("after two grants List = %v", got)
	}
	a := got["req_a"]
	want := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if a.User != "alice@example.com" || a.Access != "admin" || a.ExpiresAt == nil || !a.ExpiresAt.Equal(want) {
		t.Errorf("listed req_a = %+v", a)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_a"}); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 1 || got["req_b"].RequestID != "req_b" {
		t.Errorf("after revoking req_a List = %v, want only req_b", got)
	}
}

func TestListDocumentAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := newProvider(t, map[string]any{"command": script(t, `cat > "$OUT/stdin"
printf '%s|%s|%s' "$JIT_ACTION" "$JIT_REQUEST_ID" "$JIT_RESOURCE" > "$OUT/env"
echo '{"grants":[]}'
`), "env": map[string]any{"OUT": dir}, "list": true})
	resp, err := p.List(context.Background(), provider.ListRequest{Resource: "custom"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Grants == nil || len(resp.Grants) != 0 {
		t.Errorf("List = %+v, want an empty, non-nil list", resp)
	}
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if !strings.Contains(string(stdin), `"action":"list"`) || !strings.Contains(string(stdin), `"resource":"custom"`) {
		t.Errorf("stdin = %s", stdin)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	if string(env) != "list||custom" {
		t.Errorf("JIT_ACTION|JIT_REQUEST_ID|JIT_RESOURCE = %q", env)
	}
}

func TestListErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"exit code", "echo broken >&2; exit 3", "exit code 3"},
		{"temporary failure", "exit 75", "exit code 75"},
		{"not json", "echo hello", "not a JSON object"},
		{"no grants", "echo '{}'", `no "grants" array`},
		{"entry without id", `echo '{"grants":[{"user":"a"}]}'`, "grants[0] has no request_id"},
		{"empty output", "true", "list answer is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, map[string]any{"command": script(t, "cat >/dev/null\n"+tt.body+"\n"), "list": true})
			_, err := p.List(context.Background(), provider.ListRequest{Resource: "custom"})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("List error = %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "exec list custom") {
				t.Errorf("error %q does not name the action and resource", err)
			}
		})
	}
}

// A listing may be much bigger than the answer of one call; it has its own
// limit.
func TestListLargeAnswer(t *testing.T) {
	p := newProvider(t, map[string]any{"command": script(t, `cat >/dev/null
printf '{"grants":['
i=0
while [ $i -lt 3000 ]; do
	[ $i -gt 0 ] && printf ','
	printf '{"request_id":"req_%05d","user":"someone-with-a-long-name@example.com","access":"admin"}' $i
	i=$((i+1))
done
printf ']}'
`), "list": true})
	resp, err := p.List(context.Background(), provider.ListRequest{Resource: "custom"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Grants) != 3000 {
		t.Errorf("listed %d grants, want 3000", len(resp.Grants))
	}
}

// Listing is off unless configured, so that an integration written before
// the "list" action existed is never run with it.
func TestListNeedsSetting(t *testing.T) {
	dir := t.TempDir()
	p := newProvider(t, map[string]any{"command": script(t, `touch "$OUT/ran"; echo '{"grants":[]}'`), "env": map[string]any{"OUT": dir}})
	_, err := p.List(context.Background(), provider.ListRequest{Resource: "custom"})
	if !errors.Is(err, provider.ErrListUnsupported) || !strings.Contains(err.Error(), "list: true") {
		t.Fatalf("List without the list setting: %v, want provider.ErrListUnsupported", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the command ran")
	}
	if _, err := New(provider.Resource{Name: "custom", Type: Type, Settings: map[string]any{"command": []any{"/bin/true"}, "list": "yes"}}); err == nil || !strings.Contains(err.Error(), "list") {
		t.Errorf("list: \"yes\" accepted: %v", err)
	}
}
