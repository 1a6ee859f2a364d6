package sshca

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/provider"
)

var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func grantReq(key string) provider.GrantRequest {
	return provider.GrantRequest{
		RequestID: "req_123", User: "alice@example.com", Resource: "web", Access: "admin",
		Reason: "incident", ExpiresAt: t0.Add(time.Hour + 500*time.Millisecond), SSHPublicKey: key,
	}
}

func TestGrant(t *testing.T) {
	c := &clock{t: t0}
	p, caFile := newProvider(t, c, map[string]any{
		"source_address": []any{"10.0.0.0/8", "192.0.2.1"},
		"force_command":  "/usr/bin/uptime",
		"extensions":     []any{"permit-pty", "permit-agent-forwarding"},
		"clock_skew":     "2m",
	})
	key := userKey(t, "ed25519")
	resp, err := p.Grant(context.Background(), grantReq(key))
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	ca, err := LoadCA(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, resp.Credential.Data)
	userPub, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(key))
	wantSerial := serialFor(ca.PublicKey(), "req_123")
	if cert.Serial != wantSerial || cert.Serial == 0 {
		t.Errorf("serial %d, want %d", cert.Serial, wantSerial)
	}
	if cert.CertType != ssh.UserCert {
		t.Errorf("cert type %d", cert.CertType)
	}
	if cert.KeyId != "jit:alice@example.com:req_123" {
		t.Errorf("key ID %q", cert.KeyId)
	}
	if !reflect.DeepEqual(cert.ValidPrincipals, []string{"root", "admin"}) {
		t.Errorf("principals %q", cert.ValidPrincipals)
	}
	if got, want := cert.ValidAfter, uint64(t0.Add(-2*time.Minute).Unix()); got != want {
		t.Errorf("valid after %d, want %d (now - clock_skew)", got, want)
	}
	if got, want := cert.ValidBefore, uint64(t0.Add(time.Hour).Unix()); got != want {
		t.Errorf("valid before %d, want %d (the expiry, rounded down)", got, want)
	}
	if string(cert.Key.Marshal()) != string(userPub.Marshal()) {
		t.Error("the certificate is for another key")
	}
	if string(cert.SignatureKey.Marshal()) != string(ca.PublicKey().Marshal()) {
		t.Error("the certificate is signed by another key")
	}
	wantPerms := ssh.Permissions{
		CriticalOptions: map[string]string{"source-address": "10.0.0.0/8,192.0.2.1/32", "force-command": "/usr/bin/uptime"},
		Extensions:      map[string]string{"permit-pty": "", "permit-agent-forwarding": ""},
	}
	if !reflect.DeepEqual(cert.Permissions, wantPerms) {
		t.Errorf("permissions %+v, want %+v", cert.Permissions, wantPerms)
	}
	// The signature checks out with x/crypto's own checker, at a time
	// within the validity.
	checker := &ssh.CertChecker{
		IsUserAuthority:          func(auth ssh.PublicKey) bool { return string(auth.Marshal()) == string(ca.PublicKey().Marshal()) },
		Clock:                    func() time.Time { return t0 },
		SupportedCriticalOptions: []string{"force-command", "source-address"},
	}
	if err := checker.CheckCert("root", cert); err != nil {
		t.Errorf("CheckCert: %v", err)
	}
	if err := checker.CheckCert("deploy", cert); err == nil {
		t.Error("CheckCert accepted a principal the certificate does not name")
	}

	if resp.Credential.Kind != CredentialKind {
		t.Errorf("credential kind %q", resp.Credential.Kind)
	}
	wantInfo := map[string]string{
		"principals": "root,admin", "valid_before": "2030-06-01T13:00:00Z",
		"serial": strconv.FormatUint(wantSerial, 10), "key_id": "jit:alice@example.com:req_123",
		"hosts": "web-*,web-*.prod.example.com",
	}
	if !reflect.DeepEqual(resp.Credential.Info, wantInfo) {
		t.Errorf("info %v, want %v", resp.Credential.Info, wantInfo)
	}
	var h map[string]any
	if err := json.Unmarshal(resp.Handle, &h); err != nil {
		t.Fatal(err)
	}
	wantHandle := map[string]any{
		"serial": strconv.FormatUint(wantSerial, 10), "key_id": "jit:alice@example.com:req_123",
		"valid_before": "2030-06-01T13:00:00Z", "principals": []any{"root", "admin"},
		"fingerprint": ssh.FingerprintSHA256(userPub), "ca": ssh.FingerprintSHA256(ca.PublicKey()),
		"ca_key": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))),
	}
	if !reflect.DeepEqual(h, wantHandle) {
		t.Errorf("handle %v, want %v", h, wantHandle)
	}
	if strings.Contains(string(resp.Handle), strings.Fields(key)[1]) {
		t.Error("the handle holds the key")
	}
	r, err := RevokedFromHandle(resp.Handle)
	if err != nil || r.Serial != wantSerial || r.KeyID != cert.KeyId || !r.ValidBefore.Equal(t0.Add(time.Hour)) || r.CAKey != wantHandle["ca_key"] {
		t.Errorf("RevokedFromHandle = %+v, %v", r, err)
	}
}

// TestGrantIdempotent: a second grant of a request, later, gives the same
// handle and a certificate with the same serial, key ID, principals,
// options and expiry; other requests and other CAs give other serials.
func TestGrantIdempotent(t *testing.T) {
	c := &clock{t: t0}
	p, _ := newProvider(t, c, nil)
	key := userKey(t, "ed25519")
	first, err := p.Grant(context.Background(), grantReq(key))
	if err != nil {
		t.Fatal(err)
	}
	c.t = t0.Add(10 * time.Minute)
	second, err := p.Grant(context.Background(), grantReq(key))
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Handle) != string(second.Handle) {
		t.Errorf("handles differ:\n%s\n%s", first.Handle, second.Handle)
	}
	a, b := parseCert(t, first.Credential.Data), parseCert(t, second.Credential.Data)
	if a.Serial != b.Serial || a.KeyId != b.KeyId || a.ValidBefore != b.ValidBefore ||
		!reflect.DeepEqual(a.ValidPrincipals, b.ValidPrincipals) || !reflect.DeepEqual(a.Permissions, b.Permissions) {
		t.Errorf("second certificate differs:\n%+v\n%+v", a, b)
	}

	other := grantReq(key)
	other.RequestID = "req_124"
	o, err := p.Grant(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if parseCert(t, o.Credential.Data).Serial == a.Serial {
		t.Error("two requests got the same serial")
	}
	// The same request ID under another CA gets another serial.
	p2, err := NewWithOptions(testResource(newCAFile(t), nil), Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	o2, err := p2.Grant(context.Background(), grantReq(key))
	if err != nil {
		t.Fatal(err)
	}
	if parseCert(t, o2.Credential.Data).Serial == a.Serial {
		t.Error("two CAs gave the same serial to one request ID")
	}
}

func TestGrantRefusals(t *testing.T) {
	c := &clock{t: t0}
	p, caFile := newProvider(t, c, map[string]any{"max_validity": "2h", "key_types": []any{"ssh-ed25519", "ssh-rsa"}})
	key := userKey(t, "ed25519")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		change func(*provider.GrantRequest)
		err    string
	}{
		{"cancelled", cancelled, func(*provider.GrantRequest) {}, "context canceled"},
		{"no key", nil, func(r *provider.GrantRequest) { r.SSHPublicKey = "" }, "no SSH public key"},
		{"certificate as key", nil, func(r *provider.GrantRequest) { r.SSHPublicKey = certificateLine(t, key) }, "is an SSH certificate"},
		{"disallowed type", nil, func(r *provider.GrantRequest) { r.SSHPublicKey = userKey(t, "ecdsa256") }, "not allowed"},
		{"short RSA", nil, func(r *provider.GrantRequest) { r.SSHPublicKey = userKey(t, "rsa2048") }, "at least 3072"},
		{"unknown level", nil, func(r *provider.GrantRequest) { r.Access = "ops" }, `"ops" has no principals`},
		{"target", nil, func(r *provider.GrantRequest) { r.Target = "web-3" }, "take no target"},
		{"no expiry", nil, func(r *provider.GrantRequest) { r.ExpiresAt = time.Time{} }, "no expiry"},
		{"expired", nil, func(r *provider.GrantRequest) { r.ExpiresAt = t0.Add(-time.Second) }, "has passed"},
		{"expires within the second", nil, func(r *provider.GrantRequest) { r.ExpiresAt = t0.Add(500 * time.Millisecond) }, "has passed"},
		{"too long", nil, func(r *provider.GrantRequest) { r.ExpiresAt = t0.Add(3 * time.Hour) }, "longer than max_validity 2h0m0s"},
		{"no user", nil, func(r *provider.GrantRequest) { r.User = "" }, "user is empty"},
		{"user with newline", nil, func(r *provider.GrantRequest) { r.User = "a\nb" }, "control characters"},
		{"request ID with space", nil, func(r *provider.GrantRequest) { r.RequestID = "req 1" }, "spaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := grantReq(key)
			tc.change(&req)
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			resp, err := p.Grant(ctx, req)
			if err == nil {
				t.Fatalf("Grant succeeded: %+v", resp)
			}
			if !provider.IsNotApplied(err) {
				t.Errorf("error not wrapped with NotApplied: %v", err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q does not contain %q", err, tc.err)
			}
			if resp.Credential != nil || resp.Handle != nil {
				t.Error("a refused grant returned a certificate or handle")
			}
		})
	}

	// An unreadable CA: not applied, and it names the mode. Fixing the
	// mode takes effect without a new provider.
	if err := os.Chmod(caFile, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := p.Grant(context.Background(), grantReq(key))
	if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "mode 0644") {
		t.Errorf("Grant with a CA file of mode 0644: %v", err)
	}
	if err := os.Chmod(caFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Grant(context.Background(), grantReq(key)); err != nil {
		t.Errorf("Grant after chmod 600: %v", err)
	}
}

func TestVerifyAndRevoke(t *testing.T) {
	c := &clock{t: t0}
	p, _ := newProvider(t, c, nil)
	ctx := context.Background()
	resp, err := p.Grant(ctx, grantReq(userKey(t, "ed25519")))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(h json.RawMessage) provider.VerifyResponse {
		t.Helper()
		v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_123", Handle: h})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return v
	}
	if v := verify(nil); v.Present {
		t.Error("no handle: present")
	}
	v := verify(resp.Handle)
	if !v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after grant: %+v", v)
	}
	// Revoke changes nothing the provider sees: Verify cannot see the KRL.
	for range 2 {
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_123", Handle: resp.Handle}); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_123"}); err != nil {
		t.Errorf("Revoke without handle: %v", err)
	}
	if v := verify(resp.Handle); !v.Present {
		t.Error("after revoke, Verify says absent; it cannot know")
	}
	c.t = t0.Add(time.Hour - time.Second)
	if v := verify(resp.Handle); !v.Present {
		t.Error("a second before expiry: absent")
	}
	c.t = t0.Add(time.Hour)
	if v := verify(resp.Handle); v.Present {
		t.Error("at expiry: present")
	}

	// Errors.
	if _, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_999", Handle: resp.Handle}); err == nil {
		t.Error("Verify of another request's handle succeeded")
	}
	if _, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_123", Handle: json.RawMessage(`{"user":"x"}`)}); err == nil {
		t.Error("Verify of a foreign handle succeeded")
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_123", Handle: json.RawMessage(`{"user":"x"}`)}); err == nil {
		t.Error("Revoke of a foreign handle succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Verify(cancelled, provider.VerifyRequest{RequestID: "req_123", Handle: resp.Handle}); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context: %v", err)
	}
	if _, err := p.Revoke(cancelled, provider.RevokeRequest{RequestID: "req_123", Handle: resp.Handle}); !errors.Is(err, context.Canceled) || !provider.IsNotApplied(err) {
		t.Errorf("Revoke with a cancelled context: %v", err)
	}
}

func TestCheck(t *testing.T) {
	p, _ := newProvider(t, nil, map[string]any{"max_validity": "4h"})
	key := userKey(t, "ed25519")
	pub, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(key))
	ok := provider.CheckRequest{Resource: "web", User: "alice@example.com", Access: "deploy", Duration: 4 * time.Hour, SSHPublicKey: key}
	resp, err := p.Check(context.Background(), ok)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	want := "SSH certificate for principals deploy on hosts web-*, web-*.prod.example.com, valid until the grant expires, for key ssh-ed25519 " + ssh.FingerprintSHA256(pub)
	if resp.Summary != want || resp.Target != "" {
		t.Errorf("Check = %+v\nwant summary %q", resp, want)
	}
	for _, tc := range []struct {
		name   string
		change func(*provider.CheckRequest)
		reason string
	}{
		{"no key", func(r *provider.CheckRequest) { r.SSHPublicKey = "" }, "needs your SSH public key"},
		{"garbage key", func(r *provider.CheckRequest) { r.SSHPublicKey = "ssh-ed25519 nope" }, "not an SSH public key"},
		{"private key", func(r *provider.CheckRequest) { r.SSHPublicKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc" }, "private key"},
		{"short RSA", func(r *provider.CheckRequest) { r.SSHPublicKey = userKey(t, "rsa2048") }, "at least 3072"},
		{"DSA", func(r *provider.CheckRequest) { r.SSHPublicKey = dsaKeyLine(t) }, "too weak"},
		{"certificate", func(r *provider.CheckRequest) { r.SSHPublicKey = certificateLine(t, key) }, "is an SSH certificate"},
		{"level without principals", func(r *provider.CheckRequest) { r.Access = "ops" }, `"ops" of resource web has no SSH principals`},
		{"too long", func(r *provider.CheckRequest) { r.Duration = 4*time.Hour + time.Second }, "at most 4h0m0s"},
		{"target", func(r *provider.CheckRequest) { r.Target = "web-3" }, "without a target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.change(&req)
			_, err := p.Check(context.Background(), req)
			var refused *provider.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("Check = %v; want a *provider.RefusedError", err)
			}
			if !strings.Contains(refused.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", refused.Reason, tc.reason)
			}
		})
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Check(cancelled, ok)
	var refused *provider.RefusedError
	if err == nil || errors.As(err, &refused) {
		t.Errorf("Check with a cancelled context: %v; want a plain error", err)
	}
}

func TestAccessors(t *testing.T) {
	p, caFile := newProvider(t, nil, nil)
	if got := p.AccessForPrincipal("root"); !reflect.DeepEqual(got, []string{"admin"}) {
		t.Errorf("AccessForPrincipal(root) = %q", got)
	}
	if got := p.AccessForPrincipal("nobody"); got != nil {
		t.Errorf("AccessForPrincipal(nobody) = %q", got)
	}
	if got := p.Principals("admin"); !reflect.DeepEqual(got, []string{"root", "admin"}) {
		t.Errorf("Principals(admin) = %q", got)
	}
	if p.CAKeyFile() != caFile {
		t.Errorf("CAKeyFile = %q", p.CAKeyFile())
	}
	pub, err := p.CAPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := LoadCA(caFile)
	if string(pub.Marshal()) != string(s.PublicKey().Marshal()) {
		t.Error("CAPublicKey is not the file's key")
	}
	if !reflect.DeepEqual(p.Hosts(), []string{"web-*", "web-*.prod.example.com"}) {
		t.Errorf("Hosts = %q", p.Hosts())
	}
}

// TestKRLMethodKeepsSkew: Provider.KRL keeps a certificate listed for
// clock_skew after its expiry, for hosts whose clock lags.
func TestKRLMethodKeepsSkew(t *testing.T) {
	c := &clock{t: t0}
	p, _ := newProvider(t, c, map[string]any{"clock_skew": "5m"})
	r := []Revoked{{Serial: 9, KeyID: "jit:a:req_1", ValidBefore: t0.Add(-4 * time.Minute)}}
	b, err := p.KRL(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := decodeKRL(b); err != nil || !reflect.DeepEqual(k.serials, []uint64{9}) {
		t.Errorf("4 minutes after expiry with a 5m skew: %+v, %v", k, err)
	}
	c.t = t0.Add(2 * time.Minute)
	b, err = p.KRL(r, 2)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := decodeKRL(b); err != nil || k.serials != nil || k.date != uint64(c.t.Unix()) {
		t.Errorf("6 minutes after expiry: %+v, %v", k, err)
	}
}
