package workflow_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/workflow"
)

// certAuthority issues "certificates" whose handle is the request ID, and
// encodes its revocation list as the sorted request IDs.
type certAuthority struct {
	checking
	mu sync.Mutex
}

func init() {
	provider.Register("wfca", func(r provider.Resource) (provider.Provider, error) { return &certAuthority{}, nil })
}

// caClock is the clock of the test's certificate authority, which leaves
// expired certificates off its list as a real one does.
var caClock *clock

type caHandle struct {
	ID     string    `json:"id"`
	Expiry time.Time `json:"expiry"`
}

func (c *certAuthority) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	h, _ := json.Marshal(caHandle{ID: req.RequestID, Expiry: req.ExpiresAt})
	return provider.GrantResponse{Handle: h}, nil
}
func (c *certAuthority) MatchHost(host string) bool { return strings.HasPrefix(host, "web-") }
func (c *certAuthority) Principals(access string) []string {
	return map[string][]string{"deploy": {"deploy"}, "root": {"root", "admin"}}[access]
}
func (c *certAuthority) AuthorityKey() (string, error) { return "ssh-ed25519 AAAA ca", nil }
func (c *certAuthority) MaxValidity() time.Duration    { return 12 * time.Hour }
func (c *certAuthority) RevocationList(handles []json.RawMessage, version uint64) ([]byte, error) {
	var ids []string
	for _, raw := range handles {
		var h caHandle
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, err
		}
		if h.Expiry.After(caClock.Now()) {
			ids = append(ids, h.ID)
		}
	}
	return []byte(strings.Join(ids, ",")), nil
}

func TestSSHHostsAndRevocationList(t *testing.T) {
	pol, err := policy.Parse("test.yaml", []byte(`
identities: [{email: alice@example.com, groups: [eng]}, {email: dave@example.com, groups: [sales]}]
resources:
  - {name: web-hosts, provider: wfca, access: [deploy, root], default_access: deploy}
  - {name: plain, provider: wftest, access: [read]}
rules: [{name: r, requesters: {groups: [eng]}, resources: [web-hosts, plain], max_duration: 2h, auto_approve: true}]
`))
	if err != nil {
		t.Fatal(err)
	}
	targets.Store("plain", &target{access: map[string]time.Time{}})
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	caClock = clk
	svc, err := workflow.New(workflow.Config{Store: st, Policy: policy.NewHolder(pol), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svc: svc, store: st, clock: clk}

	offers, err := svc.HostOffers(as("alice@example.com"), "web-3")
	if err != nil || len(offers) != 1 || offers[0].Resource != "web-hosts" || len(offers[0].Access) != 2 ||
		strings.Join(offers[0].Access[1].Principals, ",") != "root,admin" {
		t.Fatalf("HostOffers(web-3) = %+v, %v", offers, err)
	}
	if offers, err := svc.HostOffers(as("dave@example.com"), "web-3"); err != nil || len(offers) != 0 {
		t.Errorf("dave, who may not request it, is offered %+v, %v", offers, err)
	}
	if offers, err := svc.HostOffers(as("alice@example.com"), "db-1"); err != nil || len(offers) != 0 {
		t.Errorf("db-1 matched %+v, %v", offers, err)
	}
	if _, err := svc.HostOffers(as("alice@example.com"), "a b"); jit.ErrorCode(err) != jit.ECodeInvalid {
		t.Errorf("bad host: %v", err)
	}

	submit := func(d time.Duration) *jit.Request {
		r, err := svc.Submit(as("alice@example.com"), workflow.SubmitInput{Resource: "web-hosts", Duration: d, Reason: "deploy"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kept, revoked, relinquished, short := submit(2*time.Hour), submit(2*time.Hour), submit(2*time.Hour), submit(time.Hour)
	e.runDue()
	if _, err := svc.Relinquish(as("alice@example.com"), relinquished.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{revoked.ID, short.ID} {
		if _, err := svc.Revoke(jit.WithIdentity(context.Background(), jit.Identity{Email: "carol@example.com", Admin: true}), id, "leaver"); err != nil {
			t.Fatal(err)
		}
	}
	e.runDue()
	krl, err := svc.RevocationList(context.Background(), "web-hosts")
	if err != nil {
		t.Fatal(err)
	}
	got := string(krl)
	for _, id := range []string{revoked.ID, relinquished.ID, short.ID} {
		if !strings.Contains(got, id) {
			t.Errorf("the list %q misses %s", got, id)
		}
	}
	if strings.Contains(got, kept.ID) {
		t.Errorf("the list revokes active access %s", kept.ID)
	}
	// Past the short grant's own expiry its certificate needs no entry.
	clk.Add(90 * time.Minute)
	krl, _ = svc.RevocationList(context.Background(), "web-hosts")
	if strings.Contains(string(krl), short.ID) || !strings.Contains(string(krl), revoked.ID) {
		t.Errorf("after an hour and a half the list is %q", krl)
	}
	// A grant revoked long ago but still valid stays listed however old
	// its request (selection is by expiry, not by age).
	clk.Add(20 * time.Minute)
	if krl, _ = svc.RevocationList(context.Background(), "web-hosts"); !strings.Contains(string(krl), revoked.ID) {
		t.Errorf("before its expiry the revoked grant left the list: %q", krl)
	}
	clk.Add(11 * time.Minute)
	if krl, _ = svc.RevocationList(context.Background(), "web-hosts"); len(krl) != 0 {
		t.Errorf("past every expiry the list is %q", krl)
	}
	if _, err := svc.RevocationList(context.Background(), "plain"); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Errorf("the list of a resource without a CA: %v", err)
	}
	if k, err := svc.AuthorityKey(context.Background(), "web-hosts"); err != nil || k != "ssh-ed25519 AAAA ca" {
		t.Errorf("AuthorityKey = %q, %v", k, err)
	}
}
