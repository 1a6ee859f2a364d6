package sshca

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
)

// The revocation list jitd serves lists the certificates of the handles
// by serial, never by key ID (it would name the people), and refuses a
// handle it cannot read rather than leave a certificate off.
func TestRevocationList(t *testing.T) {
	c := &clock{t: t0}
	p, _ := newProvider(t, c, nil)
	key := userKey(t, "ed25519")
	var handles []json.RawMessage
	for _, id := range []string{"req_a", "req_b"} {
		resp, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: id, User: "alice@example.com",
			Resource: "web", Access: "deploy", ExpiresAt: t0.Add(time.Hour), SSHPublicKey: key})
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, resp.Handle)
	}
	b, err := p.RevocationList(handles, 7)
	if err != nil {
		t.Fatal(err)
	}
	k, err := decodeKRL(b)
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, h := range handles {
		r, _ := RevokedFromHandle(h)
		want = append(want, r.Serial)
	}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if !reflect.DeepEqual(k.serials, want) {
		t.Errorf("serials %v, want %v", k.serials, want)
	}
	if bytes.Contains(b, []byte("alice")) || bytes.Contains(b, []byte("req_a")) {
		t.Errorf("the list names the requester or request: %q", b)
	}
	if _, err := p.RevocationList([]json.RawMessage{json.RawMessage(`{"nope":1}`)}, 8); err == nil {
		t.Error("a foreign handle was left off silently")
	}
	ak, err := p.AuthorityKey()
	if err != nil || !strings.HasPrefix(ak, "ssh-ed25519 ") {
		t.Errorf("AuthorityKey = %q, %v", ak, err)
	}
	if p.MaxValidity() != DefaultMaxValidity {
		t.Errorf("MaxValidity = %v", p.MaxValidity())
	}
}

// Two SSH resources may not share a CA key file, however it is spelt.
func TestSharedCAKeyRefused(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ssh_ca")
	if _, _, err := InitCA(ca, ""); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(ca, link); err != nil {
		t.Fatal(err)
	}
	res := func(name, file string) string {
		return fmt.Sprintf(`  - {name: %s, provider: ssh, access: [deploy], settings: {ca_key_file: %q, hosts: ["%s-*"], principals: {deploy: [deploy]}}}
`, name, file, name)
	}
	src := "identities: [{email: a@example.com}]\nresources:\n" + res("web", ca) + res("db", filepath.Join(dir, ".", "ssh_ca")) + res("cache", link) +
		"rules: [{name: r, requesters: {users: [a@example.com]}, resources: [web], max_duration: 1h, auto_approve: true}]\n"
	_, err := policy.Parse("jit.yaml", []byte(src))
	if err == nil {
		t.Fatal("a policy with three resources on one CA key loaded")
	}
	for _, want := range []string{`resource "db": shares the CA key file`, `resource "cache": shares the CA key file`, "with resource web"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	other := filepath.Join(dir, "other_ca")
	if _, _, err := InitCA(other, ""); err != nil {
		t.Fatal(err)
	}
	src = "identities: [{email: a@example.com}]\nresources:\n" + res("web", ca) + res("db", other) +
		"rules: [{name: r, requesters: {users: [a@example.com]}, resources: [web], max_duration: 1h, auto_approve: true}]\n"
	if p, err := policy.Parse("jit.yaml", []byte(src)); err != nil {
		t.Fatalf("two CA keys: %v", err)
	} else {
		p.Close()
	}
}
